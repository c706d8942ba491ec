"""Baseline files: one JSON file per machine class under the baseline directory.

Meant to be committed: records sorted by test and metric, floats rounded, one block per test
and metric and one line per recorded run (see :func:`render`), so a change to one test is a
small diff and branches that change different tests merge with plain ``git merge``; the git
merge driver ``cpuperf baseline-merge`` (:mod:`.merge`) joins the rest record by record. The
machine key is the CPU model, generation, ISA class and
usable cores (never the hostname, clock or library versions: those are recorded per run and
shown in every comparison). Writes go to a temporary file that replaces the old one in one
rename (see :mod:`fileio`), so a killed run leaves the previous baseline whole. A corrupt,
foreign or newer file is reported with its path and never overwritten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import BaselineFileError
from ..isa import CpuIsa
from ..records.results import (
    BaselineRecord,
    BaselineRun,
    MetricRecord,
    machine_from_dict,
    records_from_dict,
)
from .fileio import atomic_write_text, locked, read_versioned_json, remove_orphans

SCHEMA = "pytest-cpuperf/baselines"
SCHEMA_VERSION = 1
MAX_RUNS = 10
"""Recorded runs kept per metric, to learn the run-to-run noise."""


def _model_slug(cpu: CpuIsa) -> str:
    model = re.sub(r"\((r|tm)\)", "", cpu.model.lower())
    return re.sub(r"[^a-z0-9]+", "-", model).strip("-") or "unknown-cpu"


def _generation_slug(cpu: CpuIsa) -> str:
    """``amd-f25-m17``: vendor, cpu family and model number (the unknown ones left out)."""
    parts = [cpu.vendor or "unknown"]
    if cpu.family is not None:
        parts.append(f"f{cpu.family}")
    if cpu.model_number is not None:
        parts.append(f"m{cpu.model_number}")
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def machine_key(cpu: CpuIsa) -> str:
    """``amd-epyc--amd-f25-m17--avx512_vnni--2c``: model name, vendor-family-model, ISA class,
    usable cores.

    Family and model number separate generations that share a marketing name (a Zen 4 and a
    Zen 5 VM both read "AMD EPYC"). The stepping is stored in the file, not keyed: steppings of
    one family/model are revisions of one core design, and fleets mix them.
    """
    return f"{_model_slug(cpu)}--{_generation_slug(cpu)}--{cpu.isa_class}--{cpu.cores}c"


def legacy_machine_key(cpu: CpuIsa) -> str:
    """``amd-epyc--avx512_vnni--2c``: the key of schema-1 files, without the generation."""
    return f"{_model_slug(cpu)}--{cpu.isa_class}--{cpu.cores}c"


def machine_info(cpu: CpuIsa) -> dict[str, Any]:
    """The full identity of this machine, stored in its baseline file and in reports."""
    return {"key": machine_key(cpu), "cpu": cpu.model, "vendor": cpu.vendor,
            "family": cpu.family, "model": cpu.model_number, "stepping": cpu.stepping,
            "isa_class": cpu.isa_class, "cores": cpu.cores, "flags": list(cpu.known_flags),
            "masked": sorted(cpu.masked), "all_flags": " ".join(cpu.all_flags)}


#: Identity fields that must match for a baseline to be judged, with how a message names them.
COMPARED_FIELDS: dict[str, str] = {"vendor": "vendor", "family": "cpu family", "model": "model",
                                   "isa_class": "ISA class", "cores": "usable cores"}


def _flag_changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    old, new = set(stored.get("flags") or ()), set(current.get("flags") or ())
    changes = [f"+{f}" for f in sorted(new - old)] + [f"-{f}" for f in sorted(old - new)]
    return f"flags {' '.join(changes)}" if changes else None


def machine_mismatch(stored: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    """How the machine a baseline was recorded on (``stored``) differs from ``current``, as the
    end of "the baseline was ...", or None when it is the same machine class.

    Stepping and the full flag list are not compared: they change with revisions and kernels.
    """
    if "family" not in stored and "vendor" not in stored:  # schema-1 file: name only
        return (f"recorded on a machine identified only by \"{stored.get('cpu', '?')}\" "
                f"(no vendor, family or model recorded)")
    changes = [f"{label} {stored.get(name)} -> {current.get(name)}"
               for name, label in COMPARED_FIELDS.items() if stored.get(name) != current.get(name)]
    flags = _flag_changes(stored, current)
    if flags:
        changes.append(flags)
    return f"recorded on another machine ({', '.join(changes)})" if changes else None


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
    """Where this machine's baselines are written (and read, once the file exists)."""
    return directory / f"{machine_key(cpu)}.json"


def legacy_baseline_path(directory: Path, cpu: CpuIsa) -> Path:
    """Where a schema-1 pytest-cpuperf kept this machine's baselines (its old key)."""
    return directory / f"{legacy_machine_key(cpu)}.json"


def baseline_to_judge(directory: Path, cpu: CpuIsa) -> Path:
    """The file this machine's results are held against: the one under its key, else a legacy
    file under the old key (judged as "other machine", never modified), else the new path."""
    path = baseline_path(directory, cpu)
    legacy = legacy_baseline_path(directory, cpu)
    return legacy if not path.exists() and legacy.exists() else path


_CONFLICT_MARKER = re.compile(r"^(<{7} |>{7} )", re.MULTILINE)


def _has_conflict_markers(path: Path) -> bool:
    """Whether ``path`` holds the ``<<<<<<< ours`` / ``>>>>>>> theirs`` lines of a git conflict."""
    try:
        return _CONFLICT_MARKER.search(path.read_text(encoding="utf-8", errors="replace")) \
            is not None
    except OSError:
        return False


def load(path: Path, machine: dict[str, Any] | None = None) -> BaselineFile:
    """Read ``path``; a missing file is an empty baseline. Raises :class:`BaselineFileError`."""
    if not path.exists():
        return BaselineFile(path=path, machine=dict(machine or {}))
    untouched = "it was left untouched"
    try:
        data = read_versioned_json(
            path, what="baseline file", schema=SCHEMA, max_version=SCHEMA_VERSION,
            unreadable=f"{untouched}. Restore it from version control or delete it to record "
                       f"new baselines",
            foreign=f"{untouched}. Move it, or choose another --cpuperf-baseline-dir",
            newer=f"{untouched}. Upgrade pytest-cpuperf")
    except BaselineFileError as exc:
        if _has_conflict_markers(path):
            raise BaselineFileError(
                f"baseline file {path} holds git conflict markers (<<<<<<< ... >>>>>>>) of an "
                f"unfinished merge and could not be read as JSON; {untouched}. Merge it record "
                f"by record: install the merge driver (`cpuperf baseline-merge --help`), then "
                f"run `git checkout -m {path}`") from exc
        raise
    try:
        records = records_from_dict(data.get("records"))
        stored_machine = machine_from_dict(data.get("machine"), "top level")
    except ValueError as exc:
        raise BaselineFileError(
            f"baseline file {path} is malformed: {exc}; it was left untouched. Restore it from "
            f"version control or delete it to record new baselines") from exc
    return BaselineFile(path=path, machine=stored_machine or dict(machine or {}),
                        records=records)


INDENT = "  "
SEPARATOR = ","
"""The line between two blocks of one object or list: it belongs to neither, so a block added
anywhere (first, last, between two) is a pure insertion that touches no existing line."""


def _one_line(value: Any) -> str:
    """``value`` as compact JSON on one line, in the data model's order; ``ValueError`` on
    NaN."""
    return json.dumps(value, allow_nan=False, separators=(", ", ": "))


def _key(name: Any) -> str:
    return _one_line(str(name))


def _separated(blocks: Iterable[list[str]], indent: str) -> list[str]:
    """``blocks`` joined by :data:`SEPARATOR` lines."""
    lines: list[str] = []
    for block in blocks:
        if lines:
            lines.append(indent + SEPARATOR)
        lines.extend(block)
    return lines


def _members(data: Mapping[str, Any], indent: str) -> list[str]:
    """One ``"key": value`` line per member, in the order of ``data``, commas at line ends."""
    items = [f"{indent}{_key(key)}: {_one_line(value)}" for key, value in data.items()]
    return [line + ("," if i < len(items) - 1 else "") for i, line in enumerate(items)]


def _object(key: str, data: Mapping[str, Any], indent: str, comma: str = ",") -> list[str]:
    """``"key": {`` with one member per line, closed on its own line (``{}`` when empty)."""
    if not data:
        return [f"{indent}{_key(key)}: {{}}{comma}"]
    return [f"{indent}{_key(key)}: {{", *_members(data, indent + INDENT),
            f"{indent}}}{comma}"]


def _run_line(run: Mapping[str, Any]) -> str:
    """One recorded run on one line, its fields in the order the data model gives them."""
    return "{" + ", ".join(f"{_key(k)}: {_one_line(v)}" for k, v in run.items()) + "}"


def _metric_block(metric: str, record: Mapping[str, Any], indent: str) -> list[str]:
    """A metric's record: what stays put between runs first, one field per line; then its
    runs, one line each, oldest first (an appended run is an appended line)."""
    inner = indent + INDENT
    lines = [f"{indent}{_key(metric)}: {{"]
    for key, value in record.items():
        if key == "runs":
            continue
        if isinstance(value, Mapping):
            lines.extend(_object(key, value, inner))
        else:
            lines.append(f"{inner}{_key(key)}: {_one_line(value)},")
    runs = [[inner + INDENT + _run_line(run)] for run in record["runs"]]
    return [*lines, f'{inner}"runs": [', *_separated(runs, inner + INDENT), f"{inner}]",
            f"{indent}}}"]


def _test_block(test: str, metrics: Mapping[str, Any], indent: str) -> list[str]:
    blocks = [_metric_block(metric, record, indent + INDENT) for metric, record in metrics.items()]
    return [f"{indent}{_key(test)}: {{", *_separated(blocks, indent + INDENT),
            f"{indent}}}"]


def render(baseline: BaselineFile) -> str:
    """The text of a baseline file, laid out so that git merges independent changes.

    Records are sorted by test id, then metric; each test, each metric and each recorded run is
    a block of its own, and blocks are joined by a line holding only the comma. Adding a test,
    a metric or a run, or re-recording one, changes only lines of its own block, so branches
    that change different records merge with plain ``git merge`` (as long as their changes are
    not next to each other; the merge driver of :mod:`.merge` joins the rest). The text is
    plain JSON: every JSON reader reads it, and files of the older layout load the same.
    """
    data = baseline.to_dict()
    tests = [_test_block(test, metrics, INDENT * 2) for test, metrics in data["records"].items()]
    lines = ["{", f'{INDENT}"schema": {_one_line(data["schema"])},',
             f'{INDENT}"schema_version": {_one_line(data["schema_version"])},',
             *_object("machine", data["machine"], INDENT),
             f'{INDENT}"records": {{', *_separated(tests, INDENT * 2), f"{INDENT}}}", "}"]
    return "\n".join(lines) + "\n"


def save(baseline: BaselineFile) -> None:
    """Write ``baseline`` atomically in the layout of :func:`render`; ``ValueError`` (nothing
    written) if a figure is NaN."""
    atomic_write_text(baseline.path, render(baseline))


def updated(baseline: BaselineFile, records: Iterable[MetricRecord],
            consistent: set[tuple[str, str]] | None = None) -> BaselineFile:
    """``baseline`` with ``records`` stored; every other record is kept as it was.

    A record whose result was consistent with its baseline (a pass, or an inconclusive change)
    is *appended* as one more run (the last :data:`MAX_RUNS` are kept), which is how repeated
    updates teach the verdict the run-to-run noise; any other record starts a fresh history, as
    does one that measured another artifact (other model files or compile recipe).
    """
    consistent = consistent or set()
    new = {test: dict(metrics) for test, metrics in baseline.records.items()}
    for record in records:
        old = new.get(record.test_id, {}).get(record.metric)
        fresh = BaselineRecord.from_record(record)
        if old is not None and record.key in consistent and old.kind == record.kind \
                and _same_artifact(old, record):
            runs = [*old.runs, BaselineRun.from_record(record)][-MAX_RUNS:]
            fresh = BaselineRecord(record.kind, record.unit, record.higher_is_better, runs,
                                   dict(record.config), artifact=record.artifact or old.artifact)
        new.setdefault(record.test_id, {})[record.metric] = fresh
    return BaselineFile(path=baseline.path, machine=baseline.machine, records=new)


def _same_artifact(old: BaselineRecord, record: MetricRecord) -> bool:
    """Whether ``record`` measured what ``old``'s runs measured, as far as both know."""
    if old.artifact is None or record.artifact is None:
        return True
    return record.artifact.same_build(old.artifact)


def update_file(path: Path, machine: dict[str, Any], records: Iterable[MetricRecord],
                consistent: set[tuple[str, str]] | None = None) -> BaselineFile:
    """Load, merge ``records`` and save ``path`` under a lock (safe across processes).

    Exactly ``records`` are stored: the caller leaves out what must not become a baseline (a
    failed test's figures, say), and those keep what is stored for them.
    """
    with locked(path):
        remove_orphans(path)  # temporary files of writers killed before their rename
        current = load(path, machine)
        merged = updated(current, records, consistent)
        merged.machine = dict(machine)
        save(merged)
        return merged


class BaselineStore(Protocol):
    """Where a session's expectations come from, and where ``--cpuperf-update`` puts new ones."""

    @property
    def path(self) -> Path:
        """The baseline file this machine's updates are written to (shown in the header)."""
        ...

    def load(self) -> BaselineFile:
        """This machine's baselines (:class:`BaselineFileError` when they cannot be used)."""
        ...

    def update(self, records: Iterable[MetricRecord],
               consistent: set[tuple[str, str]]) -> BaselineFile:
        """Store exactly ``records`` (those in ``consistent`` extend their history); every
        other stored record is kept as it is."""
        ...


@dataclass(frozen=True)
class JsonBaselineStore:
    """The committed JSON files: ``<directory>/<machine key>.json``."""

    directory: Path
    cpu: CpuIsa
    machine: Mapping[str, Any] | None = None
    """The identity written into the file (default: :func:`machine_info` of ``cpu``)."""

    @property
    def path(self) -> Path:
        return baseline_path(self.directory, self.cpu)

    def load(self) -> BaselineFile:
        remove_orphans(self.path)  # so `git add .cpuperf` picks up none of them
        return load(baseline_to_judge(self.directory, self.cpu), self._machine())

    def update(self, records: Iterable[MetricRecord],
               consistent: set[tuple[str, str]]) -> BaselineFile:
        return update_file(self.path, self._machine(), records, consistent)

    def _machine(self) -> dict[str, Any]:
        return dict(self.machine) if self.machine is not None else machine_info(self.cpu)
