"""What the installed botocore SageMaker model says about HyperPod clusters: the instance types a
cluster's instance group may use (``ClusterInstanceType``) and the node statuses (``ClusterInstanceStatus``).

Shared by the control plane (server-side validation) and the demo (scenario-file validation). Read from
botocore's own data files, not through a session, so no AWS configuration or profile is consulted; it
imports nothing of moto, the service or the rooms.
"""

from __future__ import annotations

import difflib
import functools

from botocore.loaders import create_loader
from botocore.model import ServiceModel

SERVICE = "sagemaker"


@functools.cache
def _model() -> ServiceModel:
    return ServiceModel(create_loader().load_service_model(SERVICE, "service-2"), SERVICE)


@functools.cache
def cluster_instance_types() -> tuple[str, ...]:
    """Every ``ClusterInstanceType`` value, in the model's order."""
    return tuple(_model().shape_for("ClusterInstanceType").enum)


@functools.cache
def cluster_instance_statuses() -> tuple[str, ...]:
    """Every ``ClusterInstanceStatus`` value, in the model's order."""
    return tuple(_model().shape_for("ClusterInstanceStatus").enum)


def is_cluster_instance_type(value: str) -> bool:
    return value in cluster_instance_types()


def closest_instance_types(value: str, count: int = 3) -> list[str]:
    """The known instance types that look most like ``value`` (for an error message)."""
    return difflib.get_close_matches(value, cluster_instance_types(), n=count, cutoff=0.6)
