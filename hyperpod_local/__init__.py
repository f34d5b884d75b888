"""A local HyperPod control plane on top of moto (tests and demo only; never in the Lambda layer)."""
