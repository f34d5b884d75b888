"""``make demo``: the service's main job end to end on the local HyperPod control plane.

Modules: :mod:`~hyperpod_local.demo.cli` (arguments, output), :mod:`~.environment` (the process
environment and where the service's logs go), :mod:`~.scenario_file` (the scenario format and its
validation), :mod:`~.builtin` (the scripted incident), :mod:`~.script` (runs a scenario through the
local stack's real handlers), :mod:`~.record` (what a run leaves behind), :mod:`~.summary` (the JSON
summary), :mod:`~.render` (progress lines and tables). See README.md in this directory.
"""

from hyperpod_local.demo.cli import main

__all__ = ["main"]
