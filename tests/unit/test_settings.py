from __future__ import annotations

from datetime import timedelta

import pytest

from autoheal.policy import Action
from autoheal.settings import SettingsError, load_settings


def test_defaults_make_a_readable_policy() -> None:
    policy = load_settings({}).policy
    assert [s.action for s in policy.ladder] == [Action.REBOOT, Action.REPLACE]
    assert policy.ladder[0].timeout == timedelta(minutes=30)
    assert policy.budgets[Action.REPLACE].max_actions == 2
    assert policy.escalation_window == timedelta(hours=6)


def test_environment_overrides_the_knobs() -> None:
    s = load_settings(
        {"AUTOHEAL_TABLE_NAME": "t", "AUTOHEAL_REPLACE_BUDGET": "4", "AUTOHEAL_REBOOT_TIMEOUT_MINUTES": "20"}
    )
    assert s.table_name == "t"
    assert s.policy.budgets[Action.REPLACE].max_actions == 4
    assert s.policy.ladder[0].timeout == timedelta(minutes=20)


def test_settings_are_cached_by_their_inputs() -> None:
    env = {"AUTOHEAL_TABLE_NAME": "t"}
    assert load_settings(env) is load_settings(dict(env))
    assert load_settings(env) is not load_settings({"AUTOHEAL_TABLE_NAME": "u"})


@pytest.mark.parametrize(
    "env", [{"AUTOHEAL_REPLACE_BUDGET": "many"}, {"AUTOHEAL_REBOOT_TIMEOUT_MINUTES": "0"}]
)
def test_invalid_environment_fails_at_cold_start(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="AUTOHEAL_"):
        load_settings(env)


def test_a_missing_required_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="AUTOHEAL_TABLE_NAME"):
        load_settings({}).require("table_name")


def test_the_adaptive_ladder_is_off_by_default_and_set_from_its_four_settings() -> None:
    assert load_settings({}).policy.adaptive.enabled is False
    adaptive = load_settings(
        {
            "AUTOHEAL_ADAPTIVE_LADDER": "true",
            "AUTOHEAL_ADAPTIVE_REBOOT_SUCCESS_THRESHOLD": "35",
            "AUTOHEAL_ADAPTIVE_MIN_SAMPLES": "8",
            "AUTOHEAL_ADAPTIVE_WINDOW_DAYS": "14",
        }
    ).policy.adaptive
    assert adaptive.enabled and adaptive.threshold == pytest.approx(0.35)
    assert (adaptive.min_samples, adaptive.window) == (8, timedelta(days=14))


@pytest.mark.parametrize(
    "env",
    [
        {"AUTOHEAL_ADAPTIVE_REBOOT_SUCCESS_THRESHOLD": "101"},
        {"AUTOHEAL_ADAPTIVE_MIN_SAMPLES": "0"},
        {"AUTOHEAL_ADAPTIVE_WINDOW_DAYS": "0"},
    ],
)
def test_adaptive_settings_out_of_range_fail_at_cold_start(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="adaptive_"):
        load_settings(env)
