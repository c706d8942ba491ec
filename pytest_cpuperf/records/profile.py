"""Where the time went: a compact per-layer-type profile, and its diff against a baseline.

A profile is ``{"<layer type>:<exec type>": ms per inference}`` from a profiling pass that is
never timed (OpenVINO ``PERF_COUNT``); a few dozen numbers, stored with each baseline run. When
a throughput metric regresses (or with ``--cpuperf-profile``) the reports show the layer types
whose time changed most, baseline vs current, in milliseconds per inference.

Light: no numpy, no backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..status import Status
from .results import MetricResult

PROFILE_KEY = "profile_ms"
"""Where a record keeps its profile (``MetricRecord.extra``)."""
TOP = 4
"""Layer types a diff lists."""
NO_PROFILE = "no per-layer profile for this backend"
EXPLAINED = "where the time went"
"""How a message with a per-layer diff says so (the terminal shows such messages)."""


def summarize(layers: Iterable[tuple[str, str, float]], inferences: int) -> dict[str, float]:
    """``(layer type, exec type, ms)`` of executed layers over ``inferences`` runs, as ms per
    inference by ``"layer:exec"`` (4 significant digits: the file stays small and diffs well)."""
    total: dict[str, float] = {}
    for layer, kernel, ms in layers:
        key = f"{layer}:{kernel}"
        total[key] = total.get(key, 0.0) + ms
    return {key: float(f"{ms / max(inferences, 1):.4g}") for key, ms in sorted(total.items())}


def profile_of(compiled: Any) -> dict[str, float] | None:
    """The compiled model's per-layer profile, or None when its backend has none."""
    method = getattr(compiled, "layer_profile", None)
    return method() if callable(method) else None


def by_layer_type(profile: Mapping[str, float]) -> dict[str, float]:
    grouped: dict[str, float] = {}
    for key, ms in profile.items():
        layer = key.partition(":")[0]
        grouped[layer] = grouped.get(layer, 0.0) + float(ms)
    return grouped


def _kernels_of(profile: Mapping[str, float], layer: str) -> set[str]:
    return {key.partition(":")[2] for key in profile if key.partition(":")[0] == layer}


def profile_diff(before: Mapping[str, float], after: Mapping[str, float],
                 top: int = TOP) -> list[tuple[str, float, float]]:
    """The ``top`` layer types whose ms per inference changed most: (type, before, after)."""
    old, new = by_layer_type(before), by_layer_type(after)
    rows = [(layer, old.get(layer, 0.0), new.get(layer, 0.0)) for layer in old.keys() | new.keys()]
    rows.sort(key=lambda row: (-abs(row[2] - row[1]), row[0]))
    return rows[:top]


def diff_text(before: Mapping[str, float], after: Mapping[str, float], top: int = TOP) -> str:
    """``where the time went (ms per inference, baseline -> now): FullyConnected 0.41 -> 0.63
    (+0.22; brgemm_avx512_amx_sparse_I8 -> brgemm_avx512_amx_I8), ...``"""
    parts = []
    for layer, old, new in profile_diff(before, after, top):
        was, now = _kernels_of(before, layer), _kernels_of(after, layer)
        kernels = f"; {'+'.join(sorted(was)) or '-'} -> {'+'.join(sorted(now)) or '-'}" \
            if was != now else ""
        parts.append(f"{layer} {old:.3f} -> {new:.3f} ({new - old:+.3f}{kernels})")
    total = f"total {sum(before.values()):.3f} -> {sum(after.values()):.3f}"
    return f"{EXPLAINED} (ms per inference, baseline -> now): {', '.join(parts)}; {total}"


def explain(result: MetricResult, requested: bool) -> MetricResult:
    """``result`` with the per-layer diff appended to its message when its throughput
    regressed or may have (inconclusive and lower), its kernels changed, or ``requested``
    (then a note when one side has no profile)."""
    record = result.record
    slower = result.status is Status.INCONCLUSIVE and (result.change or 0.0) < 0.0
    wanted = requested or slower or result.status in (Status.REGRESSION, Status.KERNELS_CHANGED)
    if record.kind != "throughput" or not wanted or result.baseline is None:
        return result
    before = result.baseline.latest.profile
    after = record.extra.get(PROFILE_KEY)
    if before and after:
        result.message += "; " + diff_text(before, after)
    elif requested:  # unasked, a message says nothing of a profile nobody recorded
        result.message += f"; {NO_PROFILE}" if not after else \
            "; no per-layer profile in the baseline (run --cpuperf-update)"
    return result
