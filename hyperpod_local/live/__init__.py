"""The living local stack (``python -m hyperpod_local --stack NAME``, ``make local``): the service running
on the local endpoint, its functions on the template's triggers, clusters seeded from the demo's scenario
format. The top room of ``hyperpod_local``: it uses the plane, the stack and the demo's scenario format;
none of them uses it."""
