"""``make demo``: the service's main job end to end on the local HyperPod control plane.

Modules: :mod:`~hyperpod_local.demo.cli` (arguments, environment, output), :mod:`~.scenario_file`
(the scenario format and its validation), :mod:`~.builtin` (the scripted incident), :mod:`~.script`
(runs a scenario through the real handlers), :mod:`~.summary` (the JSON summary), :mod:`~.render`
(progress lines and tables). See README.md in this directory.
"""

from hyperpod_local.demo.cli import main

__all__ = ["main"]
