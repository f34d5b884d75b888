"""Every requested id gets one receipt; ErrorCode (reboot/replace) and Code (delete) both classify."""

from __future__ import annotations

import pytest

from autoheal.core.results import (
    ERROR_OUTCOMES,
    EntryOutcome,
    IdKind,
    classify_add_response,
    classify_call_error,
    classify_response,
    outcome_for,
    unknown_codes,
)

A, B, C, D = (f"i-{n:017x}" for n in range(1, 5))


def test_reboot_shape_with_error_code() -> None:
    response = {
        "Successful": [A],
        "Failed": [
            {"NodeId": B, "ErrorCode": "InstanceIdInUse", "Message": "busy"},
            {"NodeId": C, "ErrorCode": "InstanceIdNotFound", "Message": "gone"},
        ],
    }
    results = {r.node_id: r for r in classify_response(response, {IdKind.NODE_ID: [A, B, C]})}
    assert results[A].outcome is EntryOutcome.ACCEPTED and not results[A].failed
    assert (results[B].outcome, results[B].error_code, results[B].message) == (
        EntryOutcome.TRANSIENT,
        "InstanceIdInUse",
        "busy",
    )
    assert results[C].outcome is EntryOutcome.GONE


def test_an_id_listed_as_successful_and_failed_is_accepted_and_marked_contradictory() -> None:
    response = {
        "Successful": [A, B],
        "Failed": [{"NodeId": A, "ErrorCode": "InstanceIdInUse", "Message": "x"}],
    }
    results = {r.node_id: r for r in classify_response(response, {IdKind.NODE_ID: [A, B]})}
    assert (results[A].outcome, results[A].contradictory, results[A].failed) == (
        EntryOutcome.ACCEPTED,
        True,
        False,
    )
    assert (results[B].outcome, results[B].contradictory) == (EntryOutcome.ACCEPTED, False)


def test_delete_shape_with_code() -> None:
    response = {
        "Successful": [A],
        "Failed": [
            {"NodeId": B, "Code": "NodeIdInUse", "Message": "busy"},
            {"NodeId": C, "Code": "NodeIdNotFound"},
        ],
        "SuccessfulNodeLogicalIds": ["lid-1"],
        "FailedNodeLogicalIds": [{"NodeLogicalId": "lid-2", "Code": "NodeLogicalIdNotFound"}],
    }
    results = {
        r.node_id: r
        for r in classify_response(
            response, {IdKind.NODE_ID: [A, B, C], IdKind.LOGICAL_ID: ["lid-1", "lid-2"]}
        )
    }
    assert results[B].outcome is EntryOutcome.TRANSIENT and results[B].error_code == "NodeIdInUse"
    assert results[C].outcome is EntryOutcome.GONE
    assert results["lid-1"].outcome is EntryOutcome.ACCEPTED and results["lid-1"].id_kind is IdKind.LOGICAL_ID
    assert results["lid-2"].outcome is EntryOutcome.GONE


def test_an_id_the_response_does_not_mention_is_a_transient_no_result() -> None:
    (result,) = classify_response({"Successful": [], "Failed": []}, {IdKind.NODE_ID: [D]})
    assert (result.outcome, result.error_code) == (EntryOutcome.TRANSIENT, "NoResult")


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("InstanceIdInUse", EntryOutcome.TRANSIENT),
        ("InvalidInstanceStatus", EntryOutcome.TRANSIENT),
        ("InternalServerError", EntryOutcome.TRANSIENT),
        ("ThrottlingException", EntryOutcome.TRANSIENT),
        ("InstanceIdNotFound", EntryOutcome.GONE),
        ("ResourceNotFound", EntryOutcome.CLUSTER_GONE),
        ("ValidationException", EntryOutcome.PERMANENT),
    ],
)
def test_known_codes(code: str, outcome: EntryOutcome) -> None:
    assert outcome_for(code) == (outcome, True)


def test_unknown_codes_are_transient_and_reported() -> None:
    assert outcome_for("BrandNewCode") == (EntryOutcome.TRANSIENT, False)
    response = {"Failed": [{"NodeId": A, "ErrorCode": "BrandNewCode"}]}
    results = classify_response(response, {IdKind.NODE_ID: [A]})
    assert results[0].outcome is EntryOutcome.TRANSIENT
    assert unknown_codes(results) == {"BrandNewCode"}
    assert "BrandNewCode" not in ERROR_OUTCOMES


def test_a_failed_call_fails_every_entry_with_its_code() -> None:
    results = classify_call_error(
        "ResourceNotFound", "no cluster", {IdKind.NODE_ID: [A, B], IdKind.LOGICAL_ID: ["x"]}
    )
    assert {(r.node_id, r.outcome) for r in results} == {
        (A, EntryOutcome.CLUSTER_GONE),
        (B, EntryOutcome.CLUSTER_GONE),
        ("x", EntryOutcome.CLUSTER_GONE),
    }


def test_add_response_per_group() -> None:
    response = {
        "Successful": [
            {"NodeLogicalId": "n1", "InstanceGroupName": "gpu", "Status": "Pending"},
            {"NodeLogicalId": "n2", "InstanceGroupName": "gpu", "Status": "Pending"},
        ],
        "Failed": [
            {
                "InstanceGroupName": "cpu",
                "ErrorCode": "InstanceGroupNotFound",
                "FailedCount": 3,
                "Message": "?",
            }
        ],
    }
    by_group = {r.instance_group: r for r in classify_add_response(response)}
    assert by_group["gpu"].node_logical_ids == ("n1", "n2")
    assert (by_group["cpu"].failed_count, by_group["cpu"].error_code) == (3, "InstanceGroupNotFound")
