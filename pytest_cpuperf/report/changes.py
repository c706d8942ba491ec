"""What changed between a metric's baseline and its current run: versions, config, kernels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..records.results import MetricResult

MISSING = "-"


@dataclass(frozen=True)
class Change:
    """One setting that differs: what (``openvino``, ``NUM_STREAMS``...), before and after."""

    area: str
    key: str
    before: str
    after: str

    def text(self) -> str:
        return f"{self.key} {self.before} → {self.after}"


def _flat(data: Mapping[str, Any] | None, prefix: str = "") -> dict[str, str]:
    """Nested mappings as ``a.b`` keys with text values."""
    flat: dict[str, str] = {}
    for key, value in (data or {}).items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def _diff(area: str, before: Mapping[str, Any] | None,
          after: Mapping[str, Any] | None) -> list[Change]:
    old, new = _flat(before), _flat(after)
    return [Change(area, key, old.get(key, MISSING), new.get(key, MISSING))
            for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)]


def changes(result: MetricResult) -> list[Change]:
    """Versions, config and kernels that differ from the latest baseline run (empty: none, or
    nothing recorded to compare with)."""
    baseline, record = result.baseline, result.record
    if baseline is None:
        return []
    latest = baseline.latest
    found = _diff("versions", latest.versions, record.versions) if latest.versions else []
    if baseline.config:
        found += _diff("config", baseline.config, record.config)
    if latest.kernels and record.kernels:
        found += _diff("kernels", latest.kernels, record.kernels)
    return found


def kernel_summary(kernels: Mapping[str, Any] | None) -> str:
    """``55/56 FC sparse, 56 AMX, ISA avx512_amx`` (empty when not recorded)."""
    if not kernels:
        return ""
    parts = []
    if kernels.get("matmul_layers"):
        parts.append(f"{kernels.get('sparse_layers', 0)}/{kernels['matmul_layers']} FC sparse")
        parts.append(f"{kernels.get('amx_layers', 0)} AMX")
    if kernels.get("dominant_isa"):
        parts.append(f"ISA {kernels['dominant_isa']}")
    return ", ".join(parts)


def config_summary(config: Mapping[str, Any]) -> str:
    """The settings people look for first: streams, threads, precision, hint."""
    wanted = ("NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT",
              "PERFORMANCE_HINT", "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE")
    return ", ".join(f"{k} {config[k]}" for k in wanted if k in config)
