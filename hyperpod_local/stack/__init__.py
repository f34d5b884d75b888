"""The service's stack on the local endpoint: template.yaml turned into resources, the handlers wired up.

Modules: :mod:`~hyperpod_local.stack.template` (template.yaml as data and its logical ids),
:mod:`~.intrinsics` (the CloudFormation intrinsics it uses), :mod:`~.resources` (table, queues and
topic created from it; a local CloudFormation stack naming them), :mod:`~.guards` (the relaxed and the
production guard settings), :mod:`~.events` (EventBridge events and the Lambda context a function gets),
:mod:`~.hma_logs` (HMA log records and their CloudWatch Logs deliveries), :mod:`~.bus` (the template's
EventBridge rules, each targeting a tap queue that stands in for its function, and the functions' log
groups), :mod:`~.world` (the real handlers on those resources and the control plane, invoked as their
triggers would; `pump` delivers what the rules matched).

Imports nothing itself: :mod:`~.guards` and :mod:`~.template` load without moto or the service.
"""
