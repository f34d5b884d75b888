"""A living local stack: the local AWS endpoint with the stack's functions running on their triggers.

`LiveStack.start` serves moto and the local HyperPod control plane on one scaled clock, creates the
stack's resources and EventBridge rules from template.yaml (`LocalWorld`), registers a local
CloudFormation stack NAME for ``autoheal --stack NAME``, seeds clusters (`hyperpod_local.live.seed`)
and starts one runtime thread that keeps the template's triggers, each turn:

- EventBridge: what ``PutEvents`` delivered through the template's rules goes to intake (or, for a
  cluster event, reconcile) - `LocalWorld.pump`;
- the HMA subscription path: new records in a subscribed cluster log group go to the HMA intake
  (`hyperpod_local.stack.hma_tap`);
- the fault queue: remediate is invoked as the SQS poller would, with the template's ``BatchSize`` and
  ``MaximumBatchingWindowInSeconds`` (`triggers.BatchGate`);
- reconcile on the template's ``rate()`` schedule (`triggers.Schedule`).

One thread rather than one per function: a local invocation captures the process's stdout for its
function's log group (`bus.function_logs`), which two threads at once would mix up. Everything
time-based runs on the control plane's clock: node lifecycles, the handlers' clock (claim TTLs,
windows), the schedule and the batching window, moto's SQS (delays, visibility timeouts) and
EventBridge (an event's default ``time``): `hyperpod_local.plane._moto.install_service_clock`. An invocation that raises is logged (with its
traceback) and counted in `LiveStack.failures`; its messages come back as SQS would redeliver them.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from autoheal.observability import logger as service_logger
from autoheal_cli.resolve import PARAMETER_ENV
from hyperpod_local.demo.environment import DemoEnvironment
from hyperpod_local.demo.scenario_file import ClusterSpecModel
from hyperpod_local.live.seed import cluster_log_groups, seed_clusters, write_sample_events
from hyperpod_local.plane._moto import install_service_clock, uninstall_service_clock
from hyperpod_local.plane.clock import ControlPlaneClock
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.plane.control import ControlPlane
from hyperpod_local.plane.server import DEFAULT_REGION, TEST_CREDENTIALS, LocalAws
from hyperpod_local.stack.bus import function_logs
from hyperpod_local.stack.guards import RELAXED
from hyperpod_local.stack.hma_tap import HmaTap
from hyperpod_local.stack.rules import log_subscriptions
from hyperpod_local.stack.template import HMA_INTAKE_FUNCTION, RECONCILE_FUNCTION, REMEDIATE_FUNCTION
from hyperpod_local.stack.triggers import BatchGate, Schedule, TriggerSettings, trigger_settings
from hyperpod_local.stack.world import LocalWorld

#: The last line `describe` prints: the stack is running.
READY_LINE = "ready: the functions are running; stop with Ctrl-C (SIGINT) or SIGTERM"
#: Real seconds between two turns of the runtime thread.
TURN_SECONDS = 0.1
#: Reports of each kind a long-running stack keeps in memory (the ledger and the log groups keep the rest).
KEPT_REPORTS = 100
#: Real seconds between two rewrites of the sample events (each a new fault, stamped with the stack's now).
SAMPLES_EVERY_SECONDS = 1.0
#: The template's subscription slots for HMA log groups (HmaLogGroupNames: at most 5).
HMA_SLOTS = 5
#: MaxEventAgeMinutes' MaxValue in template.yaml.
MAX_EVENT_AGE_LIMIT_MINUTES = 43200


def event_age_minutes(scale: float) -> int:
    """The age limit a stack at `scale` runs with. Tools on the wall clock (the aws CLI, `autoheal
    replay --fresh`) stamp events with real time, which falls behind the stack's clock by (scale - 1)
    seconds each second: 60 minutes per unit of scale keep their events fresh for an hour of real time."""
    return max(60, min(MAX_EVENT_AGE_LIMIT_MINUTES, math.ceil(60 * max(scale, 1.0))))


@dataclass(frozen=True)
class LiveOptions:
    stack: str
    scale: float = 60.0
    clusters: Sequence[ClusterSpecModel] = ()
    retire_and_restore: bool = False
    seed: int | None = None
    host: str = "127.0.0.1"
    port: int = 0
    events_dir: Path | None = None  # where the sample events go (default: a temporary directory)


@dataclass
class LiveStack:
    options: LiveOptions
    failures: int = 0
    clusters: list[ClusterFixture] = field(default_factory=list)
    sample_events: dict[str, Path] = field(default_factory=dict)
    hma_log_groups: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._env = DemoEnvironment()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._temp_dir: str | None = None
        self.local: LocalAws | None = None
        self.world: LocalWorld | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> LiveStack:
        self._env.__enter__()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        options = self.options
        control = ControlPlane(clock=ControlPlaneClock(scale=options.scale), seed=options.seed)
        self.local = local = LocalAws(control, host=options.host, port=options.port).start()
        self._env.set("AWS_ENDPOINT_URL", local.endpoint_url)
        install_service_clock(lambda: control.now().timestamp())
        self.clusters = seed_clusters(local.client("sagemaker"), control, options.clusters)
        self.hma_log_groups = cluster_log_groups(local.client("logs"), self.clusters)[:HMA_SLOTS]
        switches = {"AUTOHEAL_MAX_EVENT_AGE_MINUTES": str(event_age_minutes(options.scale))}
        if options.retire_and_restore:
            switches["AUTOHEAL_RETIRE_AND_RESTORE"] = "true"
        self.world = world = LocalWorld(local, self._env.set, env=switches)
        ran_with = {**RELAXED, **switches}
        parameters = {p: ran_with[env] for p, env in PARAMETER_ENV.items() if env in ran_with}
        world.register_stack(options.stack, parameters)
        self._events_dir = options.events_dir or Path(self._make_temp_dir())
        self._events_dir.mkdir(parents=True, exist_ok=True)
        self.sample_events = write_sample_events(self._events_dir, self.clusters, world.now)
        self._samples_at = time.monotonic()
        hma = HmaTap(
            local.client("logs"), log_subscriptions({"HmaLogGroupNames": ",".join(self.hma_log_groups)})
        )
        self._thread = threading.Thread(
            target=self._run, args=(world, hma, trigger_settings()), name="autoheal-local-stack", daemon=True
        )
        self._thread.start()

    def _make_temp_dir(self) -> str:
        self._temp_dir = tempfile.mkdtemp(prefix="autoheal-local-")
        return self._temp_dir

    def stop(self) -> None:
        """Stop the runtime (after the invocation under way), the endpoint, and put the environment back."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.local is not None:
            self.local.stop()
            self.local = None
        uninstall_service_clock()
        self._env.restore()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    # --- the runtime thread ---------------------------------------------------------------------------

    def _run(self, world: LocalWorld, hma: HmaTap, triggers: TriggerSettings) -> None:
        gate = BatchGate(triggers.batch_size, triggers.batching_window_seconds)
        schedule = Schedule(triggers.reconcile_every_seconds, world.now())
        turns: list[tuple[str, Callable[[], object]]] = [
            ("EventBridge rules", lambda: world.pump(remediate=False)),
            ("HMA subscription", lambda: self._hma(world, hma)),
            ("fault queue", lambda: self._remediate(world, gate)),
            ("reconcile schedule", lambda: self._reconcile(world, schedule)),
            ("sample events", lambda: self._refresh_samples(world)),
            ("reports", lambda: _trim_reports(world)),
        ]
        while not self._stop.wait(TURN_SECONDS):
            for name, turn in turns:
                self._guarded(name, turn)

    def _guarded(self, name: str, turn: Callable[[], object]) -> None:
        try:
            turn()
        except Exception:  # an invocation that fails is reported and counted; the stack keeps running
            self.failures += 1
            print(
                f"local stack: {name} invocation failed:\n{traceback.format_exc()}",
                file=sys.stderr,
                flush=True,
            )

    def _reconcile(self, world: LocalWorld, schedule: Schedule) -> None:
        if not schedule.due(world.now()):
            return
        with function_logs(world.aws.client, world.bus.log_groups[RECONCILE_FUNCTION], service_logger):
            world.reconcile()

    def _refresh_samples(self, world: LocalWorld) -> None:
        if time.monotonic() - self._samples_at >= SAMPLES_EVERY_SECONDS:
            write_sample_events(self._events_dir, self.clusters, world.now)
            self._samples_at = time.monotonic()

    def _hma(self, world: LocalWorld, hma: HmaTap) -> None:
        deliveries = hma.receive()
        if deliveries:
            with function_logs(world.aws.client, world.bus.log_groups[HMA_INTAKE_FUNCTION], service_logger):
                world.deliver(deliveries)

    def _remediate(self, world: LocalWorld, gate: BatchGate) -> None:
        attributes = world.sqs.get_queue_attributes(
            QueueUrl=world.stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        if not gate.ready(int(attributes.get("ApproximateNumberOfMessages", 0)), world.now()):
            return
        records = world.drain(limit=gate.batch_size)
        if records:
            with function_logs(world.aws.client, world.bus.log_groups[REMEDIATE_FUNCTION], service_logger):
                world.remediate(records)

    # --- what to tell the operator --------------------------------------------------------------------

    def describe(self, out: TextIO) -> None:
        """The endpoint first (one line), the stack's table and queue, the environment to export, the
        clusters, the sample event files and HMA log groups, then :data:`READY_LINE`."""
        assert self.local is not None
        url, stack = self.local.endpoint_url, self.options.stack
        print(url, file=out)
        assert self.world is not None
        resources = self.world.stack
        print(f"stack {stack}: table {resources.table_name}, queue {resources.queue_url}", file=out)
        print(
            f"export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID={TEST_CREDENTIALS['aws_access_key_id']} "
            f"AWS_SECRET_ACCESS_KEY={TEST_CREDENTIALS['aws_secret_access_key']} "
            f"AWS_DEFAULT_REGION={DEFAULT_REGION}",
            file=out,
        )
        print(f"clock: {self.options.scale:g}x real time; try: autoheal --stack {stack} status", file=out)
        for cluster in self.clusters:
            groups = ", ".join(f"{g.name} {len(cluster.in_group(g.name))}" for g in cluster.groups)
            print(f"cluster {cluster.name} {cluster.arn}: {groups}", file=out)
        for name, path in self.sample_events.items():
            print(f"event {name}: {path}", file=out)
        for group in self.hma_log_groups:
            print(f"hma log group {group}", file=out)
        print(READY_LINE, file=out)
        out.flush()


def _trim_reports(world: LocalWorld) -> None:
    """A stack that runs for hours keeps only the last reports `LocalWorld` records (tests read them all)."""
    for reports in (world.reports, world.intake_reports, world.reconcile_reports):
        del reports[:-KEPT_REPORTS]
