"""``cpuperf merge``: one report of the report JSONs of sharded CI jobs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CliError
from ..records.results import RunReport, sorted_results
from .framing import AB_KEY


def _merged_versions(runs: Sequence[RunReport]) -> dict[str, str]:
    seen: dict[str, list[str]] = {}
    for run in runs:
        for name, version in run.versions.items():
            if version not in seen.setdefault(name, []):
                seen[name].append(version)
    return {name: " / ".join(values) for name, values in sorted(seen.items())}


AB_LISTS = ("only_base", "only_head", "notes")
AB_MAPS = ("worker_pairs", "first_sides", "cpus")
"""Lists of ``machine["ab"]`` that each ``cpuperf ab --shard`` report holds for its own tests."""


def _merged_ab(machine: dict[str, Any], runs: Sequence[RunReport]) -> dict[str, Any]:
    """``machine`` with the per-shard lists of ``cpuperf ab`` reports joined (in shard order)."""
    if not isinstance(machine.get(AB_KEY), dict):
        return machine
    info = dict(machine[AB_KEY])
    for name in AB_LISTS:
        joined: list[Any] = []
        for run in runs:
            for item in (run.machine.get(AB_KEY) or {}).get(name) or []:
                if item not in joined:
                    joined.append(item)
        info[name] = joined
    for name in AB_MAPS:
        info[name] = {key: value for run in runs
                      for key, value in ((run.machine.get(AB_KEY) or {}).get(name) or {}).items()}
    return {**machine, AB_KEY: info}


def merge_reports(reports: Sequence[tuple[Path, RunReport]], allow_mixed: bool) -> RunReport:
    """One report of all shards; a :class:`CliError` on duplicates or mixed machines."""
    owner: dict[tuple[str, str], Path] = {}
    for path, run in reports:
        for result in run.results:
            key = result.record.key
            if key in owner:
                raise CliError(f"{key[0]} / {key[1]} appears in both {owner[key]} and {path}; "
                               f"each shard must run different tests")
            owner[key] = path
    machines = {run.machine.get("key"): (path, run.machine) for path, run in reports}
    if len(machines) > 1 and not allow_mixed:
        listed = ", ".join(f"{p} ran on {k}" for k, (p, _) in machines.items())
        raise CliError(f"the reports come from different machines ({listed}); merge reports "
                       f"of one machine class, or pass --allow-mixed-machines")
    machine = reports[0][1].machine if len(machines) == 1 else {
        "key": "mixed", "cpu": "several machines", "machines": [m for _, m in machines.values()]}
    machine = _merged_ab(machine, [run for _, run in reports])
    results = sorted_results([r for _, run in reports for r in run.results])
    errors = [f"{path}: {error}" for path, run in reports for error in run.errors]
    failed = {test: why for _, run in reports for test, why in run.failed_tests.items()}
    produced = {r.record.key for r in results}
    unmeasured = [item for _, run in reports for item in run.unmeasured
                  if (item["test_id"], item["metric"]) not in produced]
    return RunReport(machine=dict(machine), results=results,
                     versions=_merged_versions([run for _, run in reports]), errors=errors,
                     failed_tests=failed, unmeasured=unmeasured,
                     empty_tests=sorted({t for _, run in reports for t in run.empty_tests}),
                     inconclusive=_merged_inconclusive([run for _, run in reports]))


def _merged_inconclusive(runs: Sequence[RunReport]) -> str | None:
    """``fail`` when a shard failed its inconclusive verdicts, else ``warn`` when one said so
    (None: none said)."""
    modes = {run.inconclusive for run in runs}
    return "fail" if "fail" in modes else "warn" if "warn" in modes else None
