"""The local HyperPod stack (tests, demo, benchmarks and `make local`; never in the Lambda layer), in four rooms.

* :mod:`hyperpod_local.plane` - the fake HyperPod control plane on top of moto: the SageMaker cluster
  API, node lifecycles, simulated time, fault injection, and the server. It knows nothing of the
  service (``autoheal``) nor of the demo.
* :mod:`hyperpod_local.stack` - the service's stack built locally: template.yaml read and its
  resources created, the real handlers wired to their triggers (:class:`~hyperpod_local.stack.world.LocalWorld`).
* :mod:`hyperpod_local.demo` - ``make demo``: scenarios run through the local stack and summarised.
* :mod:`hyperpod_local.live` - ``make local``: the stack living on the local endpoint, its functions
  running on their triggers on one scaled clock, for the operator CLI and the aws CLI.

:mod:`hyperpod_local.service_model` (the installed botocore model's HyperPod instance types and node
statuses) is shared by the plane and the demo; it needs only botocore.

``python -m hyperpod_local`` serves the control plane (and with ``--stack NAME`` the living stack).
This module imports nothing, so that a light submodule (e.g. :mod:`hyperpod_local.stack.guards`) loads
without moto.
"""
