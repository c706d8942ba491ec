"""The plugin's session: owns the baselines, judges each test's metrics, updates and reports.

Under pytest-xdist every worker judges its own tests against the (read-only) baselines and
sends its results to the controller, which alone writes baselines and reports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .backends.registry import reported_packages
from .config import Settings
from .errors import BaselineFileError
from .isa import CpuIsa
from .judge.evaluate import Policy, evaluate
from .judge.kernels import gate as kernel_gate
from .records.profile import explain
from .records.results import BaselineRecord, MetricRecord, MetricResult, RunReport
from .report import write_report
from .same_moment import SameMoment
from .status import Status
from .store.artifacts import ArtifactStore, default_artifact_dir
from .store.baselines import (
    BaselineFile,
    BaselineStore,
    JsonBaselineStore,
    machine_info,
    machine_mismatch,
)
from .store.baselines import load as load_baseline
from .store.fileio import describe_os_error
from .versions import installed_versions

UNSTORABLE = (Status.BELOW_FLOOR, Status.ABOVE_CEILING, Status.INVALID, Status.KERNEL_RULE)
"""Verdicts whose records ``--cpuperf-update`` refuses to store."""


@dataclass
class CpuperfSession:
    settings: Settings
    cpu: CpuIsa
    results: list[MetricResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unjudged: list[MetricRecord] = field(default_factory=list)
    """Records of tests that could not be judged (damaged baseline file)."""
    failed_tests: dict[str, str] = field(default_factory=dict)
    """Tests that failed or errored (id -> why), whether or not they recorded metrics."""
    baseline_error: str | None = None
    """Why the baseline file cannot be used (set by :meth:`check_baseline`)."""
    store: BaselineStore | None = None
    """Where baselines come from: the ``pytest_cpuperf_make_store`` hook's store (the history's
    ``--cpuperf-baseline-from-history``), else the JSON files of ``settings.baseline_dir``."""
    _baseline: BaselineFile | None = None
    _machine: dict[str, Any] | None = None
    hooks: Any = None
    """The ``pytest_cpuperf_*`` hooks to call (``config.hook``, bound to the config), if any."""
    warned_unlocked: bool = False
    """Whether the run has warned that perf tests run without the machine-wide lock."""
    final_report: RunReport | None = None
    """The report :meth:`finish` wrote (the terminal summary shows the same)."""
    collected: set[str] = field(default_factory=set)
    """Every test id collected, before any deselection (to tell a renamed test from an
    unselected one)."""
    ran: set[str] = field(default_factory=set)
    """Tests whose body ran (passed or failed), as against skipped or deselected."""
    empty_tests: list[str] = field(default_factory=list)
    """cpuperf tests whose body passed without recording any metric."""

    @property
    def machine(self) -> dict[str, Any]:
        """This machine's identity, as stored with baselines and reports (computed once; the
        ``pytest_cpuperf_update_machine_info`` hook may add fields, never change the key)."""
        if self._machine is None:
            info = machine_info(self.cpu)
            key = info["key"]
            if self.hooks is not None:
                self.hooks.pytest_cpuperf_update_machine_info(machine_info=info)
            self._machine = {**info, "key": key}
        return dict(self._machine)

    @property
    def baseline_store(self) -> BaselineStore:
        if self.store is None:
            files = JsonBaselineStore(self.settings.baseline_dir, self.cpu, self.machine)
            made = self.hooks.pytest_cpuperf_make_store(files=files) if self.hooks else None
            self.store = made or files
        return self.store

    @property
    def baseline_path(self) -> Path:
        return self.baseline_store.path

    def same_moment(self) -> SameMoment:
        """What a recorder needs to keep artifacts (update) or measure a baseline's (gate)."""
        root = self.settings.artifacts_dir or default_artifact_dir()
        return SameMoment(ArtifactStore(root), self.settings.update, self.baseline_to_measure)

    def baseline_to_measure(self, test_id: str, metric: str) -> tuple[BaselineRecord | None, str]:
        """The baseline whose artifact a gate run measures beside ``metric`` of ``test_id``,
        and a note when it is not this machine class's: this machine's record; where this
        machine has none, another class's in the baseline directory that kept an artifact."""
        try:
            baseline = self.baseline()
        except BaselineFileError:
            return None, ""
        record = baseline.get(test_id, metric)
        if record is not None:
            mismatch = self._other_machine(baseline)
            return record, (f"a ratio against the artifact of a baseline {mismatch}, not an "
                            f"absolute comparison" if mismatch else "")
        for path in sorted(self.settings.baseline_dir.glob("*.json")):
            if path == baseline.path:
                continue
            try:
                other = load_baseline(path).get(test_id, metric)
            except BaselineFileError:
                continue
            if other is not None and other.artifact is not None:
                return other, (f"a ratio against the artifact of another machine class's "
                               f"baseline ({path.name}), not an absolute comparison")
        return None, ""

    def check_baseline(self) -> str | None:
        """Load the baseline file now (before any test measures); the error, if it is damaged."""
        if self.baseline_error is None:
            try:
                self.baseline()
            except BaselineFileError as exc:
                self.baseline_error = str(exc)
                self.errors.append(self.baseline_error)
        return self.baseline_error

    def baseline(self) -> BaselineFile:
        """The baselines for this machine, loaded once (BaselineFileError if damaged)."""
        if self._baseline is None:
            self._baseline = self.baseline_store.load()
        return self._baseline

    # -- per test -------------------------------------------------------------------------

    @property
    def policy(self) -> Policy:
        """The session's judging policy, before any marker overrides it."""
        return Policy.from_values(self.settings.judging)

    def policy_for(self, record: MetricRecord, marker: Mapping[str, Any]) -> Policy:
        """The session's policy with the test's marker keywords applied to ``record``."""
        return self.policy.for_metric(record.kind, record.metric, marker)

    def judge(self, records: list[MetricRecord], marker: Mapping[str, Any],
              test_failure: str | None = None) -> list[MetricResult]:
        """Evaluate one test's records; results are kept for the reports (with the test's
        own failure, when its body failed)."""
        baseline = self.baseline()
        mismatch = self._other_machine(baseline)
        results = []
        for record in records:
            stored = baseline.get(record.test_id, record.metric)
            result = evaluate(record, stored, self.policy_for(record, marker),
                              other_machine=mismatch)
            result = kernel_gate(result, marker.get("kernels"), other_machine=bool(mismatch))
            result = explain(result, self.settings.profile)
            result.test_failure = test_failure
            results.append(result)
        self.results.extend(results)
        return results

    def _other_machine(self, baseline: Any) -> str | None:
        """How the machine ``baseline`` was recorded on differs from this one (None: same)."""
        mismatch = machine_mismatch(baseline.machine, self.machine)
        if mismatch and baseline.path == self.baseline_path:  # copied or renamed by hand
            mismatch += (f", yet it is in this machine's file {baseline.path.name}: move that "
                         f"file aside first")
        return mismatch

    def inconclusive_for(self, marker: Mapping[str, Any] | None = None) -> str:
        """``warn`` or ``fail``: what an inconclusive verdict does to a test with these marker
        keywords (its ``inconclusive=`` beats the session's)."""
        return str((marker or {}).get("inconclusive") or self.settings.inconclusive)

    def failure_message(self, results: list[MetricResult],
                        marker: Mapping[str, Any] | None = None) -> str | None:
        """Why the test fails, or ``None``.

        Warn-only never fails. An update never fails on a comparison with the old baseline, but
        a figure that cannot become a baseline (below its floor, above its ceiling, not a
        number) fails it: it is not stored, and the run must say so. An inconclusive verdict
        fails the test as a regression does when ``inconclusive`` is ``fail``.
        """
        if self.settings.warn_only:
            return None
        fail_inconclusive = self.inconclusive_for(marker) == "fail"
        if self.settings.update:
            failing = [r for r in results if r.status in UNSTORABLE]
        else:
            failing = [r for r in results if r.status.fails
                       or (self.settings.strict and r.status is Status.NO_BASELINE)
                       or (fail_inconclusive and r.status is Status.INCONCLUSIVE)]
        if not failing:
            return None
        lines = [f"cpuperf: {len(failing)} metric(s) failed the gate"]
        for result in failing:
            reason = result.message
            if result.status is Status.NO_BASELINE:
                reason += " [--cpuperf-strict]"
            if result.status is Status.INCONCLUSIVE:
                reason += " [--cpuperf-inconclusive=fail]"
            lines.append(f"  [{result.status.value}] {reason}")
        return "\n".join(lines)

    # -- end of session -------------------------------------------------------------------

    def add_worker_results(self, payload: str) -> None:
        data = json.loads(payload)
        self.results.extend(MetricResult.from_dict(r) for r in data["results"])
        self.unjudged.extend(MetricRecord.from_dict(r) for r in data.get("unjudged", []))
        self.errors.extend(data.get("errors", []))
        self.collected.update(data.get("collected", []))
        self.empty_tests.extend(data.get("empty_tests", []))

    def worker_payload(self) -> str:
        return json.dumps({"results": [r.to_dict() for r in self.results],
                           "unjudged": [r.to_dict() for r in self.unjudged],
                           "errors": self.errors, "collected": sorted(self.collected),
                           "empty_tests": self.empty_tests}, allow_nan=False)

    def unmeasured(self) -> list[dict[str, str]]:
        """Stored metrics this run did not produce, each with why: of tests that ran without
        recording them, and of tests their file no longer has (a renamed test or parametrize
        id). Tests that were not selected, or skipped, are not listed."""
        try:
            baseline = self.baseline()
        except BaselineFileError:
            return []
        produced = {r.record.key for r in self.results} | {r.key for r in self.unjudged}
        files = {test_id.split("::", 1)[0] for test_id in self.collected}
        found: list[dict[str, str]] = []
        for test_id, metrics in sorted(baseline.records.items()):
            if test_id in self.ran:
                why = "the test ran and did not record it"
            elif test_id not in self.collected and test_id.split("::", 1)[0] in files:
                why = "its file has no such test any more (renamed test or parametrize id)"
            else:
                continue
            found.extend({"test_id": test_id, "metric": metric, "why": why}
                         for metric in sorted(metrics) if (test_id, metric) not in produced)
        return found

    def _check_unmeasured(self, unmeasured: list[dict[str, str]]) -> None:
        """Under ``--cpuperf-strict``, a stored metric this run did not produce fails the run."""
        if not self.settings.strict:
            return
        for item in unmeasured:
            self.errors.append(f"not measured: {item['test_id']} {item['metric']} is in the "
                               f"baseline file, but {item['why']} [--cpuperf-strict]")

    def report(self, unmeasured: list[dict[str, str]] | None = None) -> RunReport:
        """The run's report; ``unmeasured`` when :meth:`finish` has already listed them."""
        return RunReport(machine=self.machine, results=list(self.results),
                         versions=installed_versions(reported_packages()),
                         errors=list(dict.fromkeys(self.errors)),
                         failed_tests=dict(self.failed_tests),
                         unmeasured=(unmeasured if unmeasured is not None else
                                     self.unmeasured() if self.settings.enabled else []),
                         empty_tests=sorted(set(self.empty_tests)),
                         inconclusive=self.settings.inconclusive)

    def finish(self) -> list[str]:
        """Update baselines and write reports; returns lines for the terminal.

        Each write is attempted on its own: one that fails (read-only, disk full, a path under
        a file) is added to :attr:`errors` with the path and the OS reason, the others are
        still written, and the run ends non-zero.
        """
        lines: list[str] = []
        if self.settings.update and (self.results or self.unjudged):
            lines.extend(self._update())
        if not (self.results or self.settings.enabled):
            return lines
        unmeasured = self.unmeasured()
        self._check_unmeasured(unmeasured)
        run = self.final_report = self.report(unmeasured)
        if self.hooks is not None:
            self.hooks.pytest_cpuperf_update_report(report=run)
        for path in self.settings.reports:
            lines.extend(self._write("cpuperf report", lambda path, run: write_report(
                path, run, others=self.settings.reports), path, run))
        if self.settings.benchmark_json is not None:
            lines.extend(self._write(
                "pytest-benchmark JSON", lambda path, run: write_report(path, run,
                                                                        "pytest-benchmark"),
                self.settings.benchmark_json, run))
        return lines

    def _foreign_file(self) -> str | None:
        """Why this machine's file must not be updated: it holds another machine's records, which
        a merge would relabel as this machine's. None when it may be updated."""
        try:
            baseline = self.baseline()
        except BaselineFileError:
            return None  # update_file reports the damaged file
        if baseline.path != self.baseline_path or not baseline.path.exists():
            return None  # a legacy file is judged, never written: the new file goes beside it
        mismatch = machine_mismatch(baseline.machine, self.machine)
        return None if mismatch is None else (
            f"{baseline.path} holds baselines {mismatch}; it was left untouched. Move it aside "
            f"to record this machine's baselines")

    def _refused(self) -> list[MetricResult]:
        """Results never stored as baselines: below their own floor, above their ceiling, or
        not a number."""
        return [r for r in self.results if r.status in UNSTORABLE]

    def _write(self, what: str, write: Any, path: Path, run: RunReport) -> list[str]:
        try:
            write(path, run)
        except OSError as exc:
            self.errors.append(f"{what} {path} NOT written: cannot write "
                               f"{_failed_path(exc, path)}: {describe_os_error(exc)}")
            return []
        return [f"{what} written: {path}"]

    def _update(self) -> list[str]:
        foreign = self._foreign_file()
        if foreign:
            self.errors.append(foreign)
            return [f"cpuperf: baselines NOT updated: {foreign}"]
        refused = self._refused()
        notes = [f"cpuperf: NOT stored as baseline: {r.metric} of {r.test_id} "
                 f"({r.status.value}; fix the test, then update)" for r in refused]
        candidates = [r.record for r in self.results if r not in refused] + self.unjudged
        failed = self._failed_unnamed(candidates)
        notes.extend(f"cpuperf: NOT stored as baseline: the metrics of {test_id}, which failed "
                     f"({self.failed_tests[test_id]}); fix the test, or store them anyway with "
                     f"--cpuperf-update-failed {test_id}" for test_id in sorted(failed))
        records = self._storable([r for r in candidates if r.test_id not in failed])
        if not records:
            return notes
        # runs that agree with the baseline, or cannot be told apart from it, extend its history
        # (so the learned run-to-run noise is not biased low); a significant change restarts it
        consistent = {r.record.key for r in self.results
                      if r.status in (Status.PASS, Status.INCONCLUSIVE)}
        try:
            self.baseline_store.update(records, consistent)
        except (BaselineFileError, ValueError) as exc:
            self.errors.append(f"baselines NOT updated: {exc}")
            return []
        except OSError as exc:
            self.errors.append(
                f"baselines NOT updated: cannot write {_failed_path(exc, self.baseline_path)}: "
                f"{describe_os_error(exc)}; the previous baseline file is unchanged. Fix that "
                f"and run `pytest --cpuperf --cpuperf-update` again")
            return []
        tests = len({r.test_id for r in records})
        return [*notes, f"cpuperf: updated {len(records)} baseline metric(s) of {tests} "
                        f"test(s) in {self.baseline_path}"]

    def _failed_unnamed(self, records: list[MetricRecord]) -> set[str]:
        """Ids of failed tests among ``records`` that ``--cpuperf-update-failed`` does not
        name: a test that failed its own assertions never sets a baseline by default."""
        named = set(self.settings.update_failed)
        return {r.test_id for r in records
                if r.test_id in self.failed_tests and r.test_id not in named}

    def _storable(self, records: list[MetricRecord]) -> list[MetricRecord]:
        """``records`` less those with a NaN or infinite figure, each refused in :attr:`errors`
        (a baseline of NaN would gate nothing, and is not valid JSON for other tools)."""
        kept = []
        for record in records:
            if all(math.isfinite(x) for x in (record.value, *record.samples)):
                kept.append(record)
            else:
                self.errors.append(
                    f"baseline of {record.metric} of {record.test_id} NOT updated: its value "
                    f"{record.value!r} or a sample is NaN or infinite; the stored baseline was "
                    f"kept. Fix the measurement and run --cpuperf-update again")
        return kept


def _failed_path(exc: OSError, path: Path) -> str:
    """The path the OS refused (a parent directory, a temporary file), else ``path``."""
    return str(exc.filename) if exc.filename else str(path)
