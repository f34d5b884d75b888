"""`autoheal ladder` on the local stack: the per-signal aggregates read with one Query, the rates, and
where each signal starts now and why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autoheal.adapters.ladder_stats import LedgerLadderStats
from autoheal_cli.main import main
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import Run

pytestmark = pytest.mark.integration


@pytest.fixture
def world(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    for name in ("AUTOHEAL_TABLE_NAME", "AUTOHEAL_QUEUE_URL", "AUTOHEAL_TOPIC_ARN"):
        monkeypatch.delenv(name, raising=False)
    return LocalWorld(aws, monkeypatch.setenv)


def cli(aws, capsys: pytest.CaptureFixture[str], *argv: str) -> Run:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    code = main(list(argv), now=aws.control.now)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def seed(world: LocalWorld) -> None:
    stats = LedgerLadderStats(world.aws.client("dynamodb"), world.stack.table_name, timedelta(days=30))
    day = world.now().date()
    stats.record("XidError:48", "reboot", day, 20, 2)
    stats.record("XidError:48", "replace", day, 4, 3)
    stats.record("XidError:63", "reboot", day, 5, 0)  # too few samples: the table


def test_ladder_shows_rates_and_the_rule_each_signal_starts_on(  # type: ignore[no-untyped-def]
    aws, world: LocalWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTOHEAL_ADAPTIVE_LADDER", "true")
    seed(world)
    run = cli(aws, capsys, "ladder", "--json")
    assert run.code == 0, run.err
    data = run.json()
    assert data["adaptive"] == {"enabled": True, "threshold": 0.2, "min_samples": 20, "window_days": 30}
    by_signal = {r["signal"]: r for r in data["signals"]}
    x48, x63 = by_signal["XidError:48"], by_signal["XidError:63"]
    assert (x48["samples"], x48["reboot"]["rate"], x48["replace"]["rate"]) == (20, 0.1, 0.75)
    assert x48["starts_at"] == "replace" and x48["rule"].startswith(
        "adaptive: XidError:48 reboot success 2/20"
    )
    assert x63["starts_at"] == "reboot" and x63["rule"].startswith("table: XidError:63")
    text = cli(aws, capsys, "ladder").out
    assert "adaptive ladder on" in text and "2/20 = 10%" in text


def test_ladder_with_the_switch_off_says_what_the_table_does(  # type: ignore[no-untyped-def]
    aws, world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(world)
    data = cli(aws, capsys, "ladder", "--json").json()
    assert data["adaptive"]["enabled"] is False
    x48 = next(r for r in data["signals"] if r["signal"] == "XidError:48")
    assert x48["starts_at"] == "reboot" and x48["rule"].startswith("table: XidError:48")


def test_ladder_with_nothing_counted_yet(aws, world: LocalWorld, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    run = cli(aws, capsys, "ladder")
    assert run.code == 0 and "no outcome counted yet" in run.out
