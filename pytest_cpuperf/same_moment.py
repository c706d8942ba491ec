"""Which baseline artifact to measure beside a candidate, or why none.

Under ``--cpuperf-update`` a measured model's files go into the artifact store
(:mod:`.store.artifacts`) and its fingerprint into the record. In a gate run, when the metric's
baseline measured other files or another compile recipe and its artifact is in the store, that
artifact is compiled again as it was and measured interleaved with the candidate
(``cpuperf.measure`` does it with ``engine.compare``); the verdict then judges the ratio
(judge/evaluate.py). Otherwise the reason why not goes with the record, and the verdict
judges the stored figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .backends.base import BackendUnavailable, CompiledModel
from .backends.registry import artifact_source, compile_artifact
from .errors import CpuperfUsageError
from .records.artifact import Fingerprint
from .records.results import BaselineRecord
from .store.artifacts import ArtifactStore, fingerprint
from .store.fileio import describe_os_error

Lookup = Callable[[str, str], tuple[BaselineRecord | None, str]]
"""``(test_id, metric)`` -> the baseline to measure beside, and a note when it is another
machine class's (empty: this machine's)."""


@dataclass
class Plan:
    """What one throughput measurement is held against."""

    candidate: Fingerprint | None = None
    """The candidate's artifact (None: it has none)."""
    why: str = ""
    """Why no same-moment measurement runs (said with a stored-figure verdict)."""
    baseline: Fingerprint | None = None
    """The baseline's artifact, when it is measured beside the candidate."""
    model: CompiledModel | None = field(default=None, repr=False)
    """The baseline's artifact compiled again, when it is measured beside the candidate."""
    note: str = ""
    """What the ratio is against, when not this machine class's baseline."""
    errors: list[str] = field(default_factory=list)
    """What kept the artifact out of the store (an update run)."""


@dataclass(frozen=True)
class SameMoment:
    """What a run needs to keep artifacts (update) or to measure a baseline's (gate)."""

    store: ArtifactStore
    update: bool
    lookup: Lookup

    def plan(self, compiled: CompiledModel, test_id: str, metric: str) -> Plan:
        """The plan for ``metric`` of ``test_id`` measured on ``compiled``."""
        source = artifact_source(compiled)
        if isinstance(source, str):
            return Plan(why=source)
        try:
            candidate = fingerprint(source.files, compiled.backend, source.recipe,
                                    compiled.versions())
        except OSError as exc:
            return Plan(why=f"no artifact: cannot read {exc.filename}: {describe_os_error(exc)}")
        if self.update:
            return self._keep(candidate, source.files)
        baseline, note = self.lookup(test_id, metric)
        if baseline is None:
            return Plan(candidate)
        old = baseline.artifact
        if old is None:
            return Plan(candidate, why=(
                "the baseline has no artifact fingerprint (recorded without one); record it "
                "again with --cpuperf-update to keep its artifact"))
        if candidate.same_build(old):
            return Plan(candidate, why=_same_build(candidate, old))
        return self._compiled(candidate, old, note)

    def _keep(self, candidate: Fingerprint, files: Any) -> Plan:
        try:
            self.store.put(candidate, files)
        except OSError as exc:
            return Plan(candidate, errors=[
                f"artifact {candidate.short} NOT kept in the artifact store {self.store.root}: "
                f"{describe_os_error(exc)}; a gate run cannot measure this baseline's model "
                f"beside a changed one (fix that, or choose another --cpuperf-artifacts)"])
        return Plan(candidate)

    def _compiled(self, candidate: Fingerprint, old: Fingerprint, note: str) -> Plan:
        entry = self.store.find(old)
        if entry is None:
            return Plan(candidate, why=(
                f"baseline artifact {old.short} not in the artifact store {self.store.root}: "
                f"run with --cpuperf-artifacts pointing at the store the baseline was recorded "
                f"with"))
        try:
            model = compile_artifact(old.backend, entry / old.model, old.recipe)
        except (CpuperfUsageError, BackendUnavailable, ImportError, LookupError,
                RuntimeError) as exc:
            return Plan(candidate, why=f"baseline artifact {old.short} could not be compiled "
                                       f"again: {exc}")
        model.label = f"baseline {old.short}"
        return Plan(candidate, baseline=old, model=model, note=note)


def _same_build(candidate: Fingerprint, old: Fingerprint) -> str:
    """Why the same files compiled the same way are judged on the stored figure."""
    changes = candidate.runtime_changes(old)
    if changes:
        return (f"the baseline measured this artifact {candidate.short} with the same recipe, "
                f"but the runtime changed ({changes}): a same-moment measurement cannot measure "
                f"the old runtime; measure both runtimes side by side with `cpuperf ab "
                f"--base-python`")
    return (f"the baseline measured this same artifact {candidate.short} (same files, recipe "
            f"and runtime)")
