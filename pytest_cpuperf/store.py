"""Baseline files: one JSON file per machine class under the baseline directory.

Meant to be committed: keys are sorted, floats rounded, one record per test and metric, so a
change to one test is a small diff. The machine key is the CPU model, the ISA class and the
usable cores (never the hostname, clock or library versions: those are recorded per run and
shown in every comparison). Writes go to a temporary file that replaces the old one in one
rename (see :mod:`fileio`), so a killed run leaves the previous baseline whole. A corrupt,
foreign or newer file is reported with its path and never overwritten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BaselineFileError
from .fileio import (  # atomic_write_text and read_versioned_json are also used from here
    atomic_write_text,
    locked,
    read_versioned_json,
    remove_orphans,
)
from .fileio import lock_path as lock_path  # re-exported
from .isa import CpuIsa
from .results import BaselineRecord, BaselineRun, MetricRecord

SCHEMA = "pytest-cpuperf/baselines"
SCHEMA_VERSION = 1
MAX_RUNS = 10
"""Recorded runs kept per metric, to learn the run-to-run noise."""


def machine_key(cpu: CpuIsa) -> str:
    """``amd-epyc--avx512_vnni--2c``: CPU model, ISA class, usable cores."""
    model = re.sub(r"\((r|tm)\)", "", cpu.model.lower())
    model = re.sub(r"[^a-z0-9]+", "-", model).strip("-") or "unknown-cpu"
    return f"{model}--{cpu.isa_class}--{cpu.cores}c"


def machine_info(cpu: CpuIsa) -> dict[str, Any]:
    return {"key": machine_key(cpu), "cpu": cpu.model, "isa_class": cpu.isa_class,
            "cores": cpu.cores, "flags": list(cpu.known_flags)}


@dataclass
class BaselineFile:
    """The records of one machine: ``records[test_id][metric]``."""

    path: Path
    machine: dict[str, Any]
    records: dict[str, dict[str, BaselineRecord]] = field(default_factory=dict)

    def get(self, test_id: str, metric: str) -> BaselineRecord | None:
        return self.records.get(test_id, {}).get(metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "machine": self.machine,
            "records": {test: {metric: rec.to_dict() for metric, rec in sorted(metrics.items())}
                        for test, metrics in sorted(self.records.items())},
        }


def baseline_path(directory: Path, cpu: CpuIsa) -> Path:
    return directory / f"{machine_key(cpu)}.json"


def load(path: Path, machine: dict[str, Any] | None = None) -> BaselineFile:
    """Read ``path``; a missing file is an empty baseline. Raises :class:`BaselineFileError`."""
    if not path.exists():
        return BaselineFile(path=path, machine=dict(machine or {}))
    untouched = "it was left untouched"
    data = read_versioned_json(
        path, what="baseline file", schema=SCHEMA, max_version=SCHEMA_VERSION,
        unreadable=f"{untouched}. Restore it from version control or delete it to record new "
                   f"baselines",
        foreign=f"{untouched}. Move it, or choose another --cpuperf-baseline-dir",
        newer=f"{untouched}. Upgrade pytest-cpuperf")
    try:
        records = {
            test: {metric: BaselineRecord.from_dict(rec) for metric, rec in metrics.items()}
            for test, metrics in data.get("records", {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineFileError(
            f"baseline file {path} has a malformed record ({exc!r}); it was left untouched"
        ) from exc
    return BaselineFile(path=path, machine=dict(data.get("machine") or machine or {}),
                        records=records)


def save(baseline: BaselineFile) -> None:
    """Write ``baseline`` atomically; ``ValueError`` (nothing written) if a figure is NaN."""
    text = json.dumps(baseline.to_dict(), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_text(baseline.path, text + "\n")


def updated(baseline: BaselineFile, records: Iterable[MetricRecord],
            consistent: set[tuple[str, str]] | None = None) -> BaselineFile:
    """``baseline`` with ``records`` stored; every other record is kept as it was.

    A record whose result was consistent with its baseline (a pass, or an inconclusive change)
    is *appended* as one more run (the last :data:`MAX_RUNS` are kept), which is how repeated
    updates teach the verdict the run-to-run noise; any other record starts a fresh history.
    """
    consistent = consistent or set()
    new = {test: dict(metrics) for test, metrics in baseline.records.items()}
    for record in records:
        old = new.get(record.test_id, {}).get(record.metric)
        fresh = BaselineRecord.from_record(record)
        if old is not None and record.key in consistent and old.kind == record.kind:
            runs = [*old.runs, BaselineRun(record.value, list(record.samples), record.date,
                                           dict(record.versions), record.busy,
                                           list(record.contention))][-MAX_RUNS:]
            fresh = BaselineRecord(record.kind, record.unit, record.higher_is_better, runs,
                                   dict(record.config))
        new.setdefault(record.test_id, {})[record.metric] = fresh
    return BaselineFile(path=baseline.path, machine=baseline.machine, records=new)


def update_file(path: Path, machine: dict[str, Any], records: Iterable[MetricRecord],
                consistent: set[tuple[str, str]] | None = None) -> BaselineFile:
    """Load, merge ``records`` and save ``path`` under a lock (safe across processes)."""
    with locked(path):
        remove_orphans(path)  # temporary files of writers killed before their rename
        current = load(path, machine)
        merged = updated(current, records, consistent)
        merged.machine = dict(machine)
        save(merged)
        return merged
