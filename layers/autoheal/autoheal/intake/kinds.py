"""The (source, detail-type) pairs intake routes on: names only, so routing needs no model imported."""

from __future__ import annotations

SAGEMAKER = "aws.sagemaker"
HEALTH = "aws.health"
CLOUDWATCH = "aws.cloudwatch"

NODE_HEALTH_EVENT = "SageMaker HyperPod Cluster Node Health Event"
CLUSTER_EVENT = "SageMaker HyperPod Cluster Event"
CLUSTER_STATE_CHANGE = "SageMaker HyperPod Cluster State Change"
HEALTH_EVENT = "AWS Health Event"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
ALARM_CONTRIBUTOR_STATE_CHANGE = "CloudWatch Alarm Contributor State Change"
