"""`autoheal`: the operator CLI for hyperpod-autoheal, deployed or local (not part of the Lambda layer).

Commands: `status`, `history NODE`, `pause` / `resume`, `replay EVENT.json`, `plan EVENTS.json` and
`plan --cluster C`. They use the same adapters as the functions (`autoheal.adapters`, intake's
`normalise`, remediate's `plan`).
"""

__version__ = "0.1.0"  # pyproject.toml's; `autoheal --version` prefers the installed metadata
