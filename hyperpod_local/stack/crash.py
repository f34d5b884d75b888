"""A process death injected into one remediate invocation at a chosen step, as a Lambda timeout or an
out-of-memory kill would end it: the exception escapes the handler and its SQS messages stay
unacknowledged (`LocalWorld.remediate(records, deps_hook=...)`)."""

from __future__ import annotations

from typing import Any

from autoheal.remediate.service import Deps


class Crash(RuntimeError):
    """A process death injected at a chosen step (escapes the handler, as a real one would)."""


def dies_at(method: str, why: str) -> Any:
    """A remediate `deps_hook` whose node-state store dies when `method` is called: `put_claimed`
    (after the claim, before the call is marked `sending`, so before the call) or `commit` (after
    the call, before its outcome is written)."""

    def hook(deps: Deps) -> Deps:
        real = deps.states

        class Dies:
            def __getattr__(self, name: str) -> Any:
                if name == method:
                    raise Crash(why)
                return getattr(real, name)

        deps.states = Dies()
        return deps

    return hook


#: The process dies after the claim, before anything is sent.
DIES_BEFORE_THE_CALL = dies_at("put_claimed", "died after the claim, before calling SageMaker")
#: The process dies after the call went out (and was accepted), before the outcome is written.
DIES_AFTER_THE_CALL = dies_at("commit", "died after calling SageMaker, before writing the outcome")
