"""The stateful part of the stack, built locally from template.yaml.

`create_stack_resources` creates the ledger table, the queues and the topic (with its KMS key) against
whatever endpoint the clients point at (moto's in-process `mock_aws`, a moto server, DynamoDB Local),
taking key schema, index, TTL, redrive and encryption settings from the template itself, so tests and
deployment cannot drift. `register_stack` names them in a local CloudFormation stack's Outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperpod_local.stack.intrinsics import Resolver, UnresolvedError
from hyperpod_local.stack.template import (
    ENV_PREFIX,
    EVIDENCE_BUCKET,
    FAULT_DLQ,
    FAULT_QUEUE,
    FUNCTIONS,
    INTAKE_DLQ,
    LEDGER_TABLE,
    NEEDS_HUMAN_TOPIC,
    TEMPLATE_PATH,
    load_template,
    template_function_env,
    template_properties,
)

ClientFactory = Callable[[str], Any]

#: The optional chat topic (template.yaml, condition HasChatNotifications).
CHAT_TOPIC = "ChatTopic"


@dataclass(frozen=True)
class StackResources:
    """Physical ids of the stateful resources, and the environment the functions would get."""

    table_name: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    intake_dlq_url: str
    topic_arn: str
    evidence_bucket: str = ""  # EvidenceBucket: where remediate writes evidence bundles
    chat_topic_arn: str = ""  # made whatever ChatNotifications says; the functions get it only when "true"
    function_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)

    def env(self, function: str | None = None) -> dict[str, str]:
        """The AUTOHEAL_* variables `function` gets (default: all functions' variables, merged)."""
        names = [function] if function else list(self.function_env)
        merged: dict[str, str] = {}
        for name in names:
            for key, value in self.function_env[name].items():
                if not key.startswith(ENV_PREFIX):
                    continue
                if merged.get(key, value) != value:
                    raise ValueError(f"functions disagree on {key}: {merged[key]!r} vs {value!r}")
                merged[key] = value
        return merged


def _factory(session_or_factory: Any) -> ClientFactory:
    client = getattr(session_or_factory, "client", None)
    if callable(client):  # a boto3.Session
        return client  # type: ignore[no-any-return]
    if callable(session_or_factory):
        return session_or_factory  # type: ignore[no-any-return]
    raise TypeError("expected a boto3.Session or a callable service_name -> client")


# CloudFormation AWS::SQS::Queue properties -> SetQueueAttributes names (the ones that are not identical).
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
)


def _queue_attributes(properties: Mapping[str, Any]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for name in _QUEUE_ATTRIBUTES:
        if name in properties:
            value = properties[name]
            attributes[name] = str(value).lower() if isinstance(value, bool) else str(value)
    if "RedrivePolicy" in properties:
        redrive = dict(properties["RedrivePolicy"])
        redrive["maxReceiveCount"] = int(redrive["maxReceiveCount"])
        attributes["RedrivePolicy"] = json.dumps(redrive)
    return attributes


def _create_queues(
    sqs: Any, template: Mapping[str, Any], resolver: Resolver, suffix: str
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Create every AWS::SQS::Queue, dead-letter queues before the queues that redrive to them."""
    pending = [lid for lid, r in template["Resources"].items() if r.get("Type") == "AWS::SQS::Queue"]
    refs: dict[str, str] = {}
    attrs: dict[tuple[str, str], str] = {}
    while pending:
        progressed = False
        for logical_id in list(pending):
            try:
                properties = resolver.with_resources(refs, attrs).resolve(
                    template_properties(template, logical_id)
                )
            except UnresolvedError:
                continue  # refers to a queue not created yet
            name = f"autoheal-{suffix}-{logical_id}"
            url = sqs.create_queue(QueueName=name, Attributes=_queue_attributes(properties))["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            refs[logical_id] = url
            attrs[(logical_id, "Arn")] = arn
            attrs[(logical_id, "QueueName")] = name
            attrs[(logical_id, "QueueUrl")] = url
            pending.remove(logical_id)
            progressed = True
        if not progressed:
            raise UnresolvedError(f"queues {pending} refer to something other than queues")
    return refs, attrs


def _create_table(dynamodb: Any, properties: Mapping[str, Any], name: str) -> str:
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if "GlobalSecondaryIndexes" in properties:
        request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    if "ProvisionedThroughput" in properties:
        request["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    sse = properties.get("SSESpecification")
    if sse:
        request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))}
        if "SSEType" in sse:
            request["SSESpecification"]["SSEType"] = sse["SSEType"]
        if "KMSMasterKeyId" in sse:
            request["SSESpecification"]["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
    dynamodb.create_table(**request)
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
        )
    pitr = properties.get("PointInTimeRecoverySpecification")
    if pitr:
        dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": bool(pitr.get("PointInTimeRecoveryEnabled"))
            },
        )
    return name


def _create_keys(
    kms: Any, template: Mapping[str, Any], suffix: str
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Create every AWS::KMS::Key (symmetric, default policy: nothing local enforces key policies)."""
    refs: dict[str, str] = {}
    attrs: dict[tuple[str, str], str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::KMS::Key":
            continue
        key = kms.create_key(Description=f"autoheal-{suffix}-{logical_id}")["KeyMetadata"]
        refs[logical_id] = key["KeyId"]
        attrs[(logical_id, "Arn")] = key["Arn"]
        attrs[(logical_id, "KeyId")] = key["KeyId"]
    return refs, attrs


def _create_topic(sns: Any, properties: Mapping[str, Any], name: str) -> str:
    attributes = {k: str(properties[k]) for k in ("DisplayName", "KmsMasterKeyId") if k in properties}
    arn: str = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    return arn


def _create_bucket(s3: Any, name: str) -> str:
    """EvidenceBucket (its encryption, public access block and TLS-only policy are the template's; moto
    enforces none of them)."""
    region = s3.meta.region_name
    config = (
        {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=name, **config)
    return name


#: The Outputs of template.yaml that name resources `create_stack_resources` makes (the functions' are left out).
LOCAL_OUTPUTS = (
    "LedgerTableName",
    "FaultQueueUrl",
    "FaultDLQUrl",
    "IntakeDLQUrl",
    "NeedsHumanTopicArn",
    "EvidenceBucketName",
)


def register_stack(
    cloudformation: Any,
    name: str,
    resources: StackResources,
    parameters: Mapping[str, str] | None = None,
    outputs: Mapping[str, str] | None = None,
) -> None:
    """A CloudFormation stack on the local endpoint whose Outputs name `resources`, as a deployed stack's
    would, so that `autoheal --stack NAME` finds them the same way locally; `parameters` become its
    Parameters (e.g. the remediation policy's), `outputs` more Outputs (the event bus's:
    `hyperpod_local.stack.bus.LocalBus.outputs`). It creates nothing else."""
    parameters = dict(parameters or {})
    values = {
        "LedgerTableName": resources.table_name,
        "FaultQueueUrl": resources.queue_url,
        "FaultDLQUrl": resources.dlq_url,
        "IntakeDLQUrl": resources.intake_dlq_url,
        "NeedsHumanTopicArn": resources.topic_arn,
        "EvidenceBucketName": resources.evidence_bucket,
    }
    template = {
        "Description": "hyperpod-autoheal resources on the local endpoint (created by hyperpod_local)",
        "Parameters": {key: {"Type": "String"} for key in parameters},
        "Resources": {"LocalMarker": {"Type": "AWS::SNS::Topic"}},  # CloudFormation needs one resource
        "Outputs": {
            **{key: {"Value": values[key]} for key in LOCAL_OUTPUTS},
            **{key: {"Value": value} for key, value in (outputs or {}).items()},
        },
    }
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )


def create_stack_resources(
    boto3_session_or_client_factory: Any,
    template_path: str | Path = TEMPLATE_PATH,
    suffix: str = "local",
    parameters: Mapping[str, str] | None = None,
) -> StackResources:
    """Create the table, queues and topic of template.yaml; names are `autoheal-<suffix>-<LogicalId>`.

    `boto3_session_or_client_factory` is a boto3.Session or any `service_name -> client` callable (for
    endpoint URLs or credentials of your own). `parameters` override template defaults. Email
    subscriptions, functions and event rules are not created: nothing local can invoke them.
    """
    client = _factory(boto3_session_or_client_factory)
    template = load_template(template_path)
    resolver = Resolver(template, parameters=dict(parameters or {}))

    queue_refs, queue_attrs = _create_queues(client("sqs"), template, resolver, suffix)
    table_name = _create_table(
        client("dynamodb"),
        resolver.resolve(template_properties(template, LEDGER_TABLE)),
        f"autoheal-{suffix}-{LEDGER_TABLE}",
    )
    key_refs, key_attrs = _create_keys(client("kms"), template, suffix)
    topic_arn = _create_topic(
        client("sns"),
        resolver.with_resources(key_refs, key_attrs).resolve(
            template_properties(template, NEEDS_HUMAN_TOPIC)
        ),
        f"autoheal-{suffix}-{NEEDS_HUMAN_TOPIC}",
    )

    bucket = _create_bucket(client("s3"), f"autoheal-{suffix}-{EVIDENCE_BUCKET}".lower())
    with_keys = resolver.with_resources(key_refs, key_attrs)
    chat_topic_arn = _create_topic(
        client("sns"),
        with_keys.resolve(template_properties(template, CHAT_TOPIC)),
        f"autoheal-{suffix}-{CHAT_TOPIC}",
    )
    deployed = resolver.with_resources(
        {
            **queue_refs,
            LEDGER_TABLE: table_name,
            NEEDS_HUMAN_TOPIC: topic_arn,
            EVIDENCE_BUCKET: bucket,
            CHAT_TOPIC: chat_topic_arn,
        },
        {
            **queue_attrs,
            (NEEDS_HUMAN_TOPIC, "TopicName"): topic_arn.rsplit(":", 1)[-1],
            (EVIDENCE_BUCKET, "Arn"): f"arn:aws:s3:::{bucket}",
        },
    )
    function_env = {
        fn: {k: str(v) for k, v in deployed.resolve(template_function_env(template, fn)).items()}
        for fn in FUNCTIONS
    }
    return StackResources(
        table_name=table_name,
        queue_url=queue_refs[FAULT_QUEUE],
        queue_arn=queue_attrs[(FAULT_QUEUE, "Arn")],
        dlq_url=queue_refs[FAULT_DLQ],
        dlq_arn=queue_attrs[(FAULT_DLQ, "Arn")],
        intake_dlq_url=queue_refs[INTAKE_DLQ],
        topic_arn=topic_arn,
        evidence_bucket=bucket,
        chat_topic_arn=chat_topic_arn,
        function_env=function_env,
    )
