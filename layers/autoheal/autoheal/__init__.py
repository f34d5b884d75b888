"""hyperpod-autoheal: event-driven auto-remediation for SageMaker HyperPod clusters."""
