"""CPU capability detection: model name, usable cores and the ISA flags that matter.

Flags come from ``/proc/cpuinfo`` (Linux) with py-cpuinfo as the fallback, never from
OpenVINO's OPTIMIZATION_CAPABILITIES, which lists INT8 on every CPU.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: Flags the plugin knows, most capable first, with what each enables.
KNOWN_FLAGS: dict[str, str] = {
    "amx_tile": "AMX tile registers",
    "amx_int8": "AMX INT8 matrix multiply (sparse weight decompression needs it)",
    "amx_bf16": "AMX BF16 matrix multiply",
    "avx512_fp16": "AVX-512 FP16 arithmetic",
    "avx512_bf16": "AVX-512 BF16 dot products",
    "avx512_vnni": "AVX-512 VNNI INT8 dot products",
    "avx_vnni": "AVX (256-bit) VNNI INT8 dot products",
    "avx512f": "AVX-512 foundation",
    "avx2": "AVX2",
}

#: Spellings other tools use for the same flag (py-cpuinfo, lscpu, oneDNN names).
_ALIASES: dict[str, str] = {
    "avx512vnni": "avx512_vnni",
    "avx512bf16": "avx512_bf16",
    "avx512fp16": "avx512_fp16",
    "avxvnni": "avx_vnni",
    "amxtile": "amx_tile",
    "amxint8": "amx_int8",
    "amxbf16": "amx_bf16",
}

#: ISA classes used in the baseline machine key, best first: the first whose flags are all present.
ISA_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("amx", ("amx_tile", "amx_int8", "amx_bf16")),
    ("avx512_vnni", ("avx512f", "avx512_vnni")),
    ("avx512", ("avx512f",)),
    ("avx2", ("avx2",)),
)


class UnknownISAFlagError(ValueError):
    """A flag name outside :data:`KNOWN_FLAGS` was asked for."""

    def __init__(self, names: Iterable[str], where: str) -> None:
        self.names = sorted(names)
        super().__init__(
            f"{where}: unknown ISA flag(s) {', '.join(map(repr, self.names))}; "
            f"valid names are: {', '.join(KNOWN_FLAGS)}"
        )


def normalize_flag(name: str) -> str:
    """Lower-case ``name`` and map other tools' spellings onto ours."""
    key = name.strip().lower().replace("-", "_")
    return _ALIASES.get(key.replace("_", ""), _ALIASES.get(key, key))


def validate_flags(names: Iterable[str], where: str) -> tuple[str, ...]:
    """Normalize ``names`` and raise :class:`UnknownISAFlagError` for any unknown one."""
    raw = [names] if isinstance(names, str) else list(names)
    normalized = tuple(normalize_flag(n) for n in raw)
    unknown = [r for r, n in zip(raw, normalized, strict=True) if n not in KNOWN_FLAGS]
    if unknown:
        raise UnknownISAFlagError(unknown, where)
    return normalized


def parse_proc_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """Return (model name, flags) from the text of ``/proc/cpuinfo`` (first processor block)."""
    model = ""
    flags: frozenset[str] = frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(normalize_flag(f) for f in value.split())
        if model and flags:
            break
    return model, flags


def usable_cores() -> int:
    """Logical cores this process may run on (its affinity), not the host's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class CpuIsa:
    """What this CPU offers, as seen by the plugin (after any ``--cpuperf-isa-mask``)."""

    model: str
    cores: int
    flags: frozenset[str]
    masked: frozenset[str] = field(default_factory=frozenset)

    def has(self, name: str) -> bool:
        """True when the CPU has flag ``name`` (any known spelling) and it is not masked."""
        flag = normalize_flag(name)
        if flag not in KNOWN_FLAGS:
            raise UnknownISAFlagError([name], "cpu_isa.has")
        return flag in self.flags

    @property
    def known_flags(self) -> tuple[str, ...]:
        """The known flags present, in :data:`KNOWN_FLAGS` order."""
        return tuple(f for f in KNOWN_FLAGS if f in self.flags)

    @property
    def isa_class(self) -> str:
        """The best ISA class whose flags are all present (``amx``, ``avx512_vnni``, ...)."""
        for name, needed in ISA_CLASSES:
            if all(f in self.flags for f in needed):
                return name
        return "baseline"

    def missing(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` (already validated) that this CPU lacks."""
        return [n for n in names if n not in self.flags]

    def with_mask(self, names: Iterable[str]) -> CpuIsa:
        """A copy with ``names`` hidden, as if the CPU lacked them."""
        hidden = frozenset(validate_flags(list(names), "--cpuperf-isa-mask"))
        return CpuIsa(self.model, self.cores, self.flags - hidden, self.masked | hidden)

    def describe(self) -> str:
        """One line for the pytest header."""
        flags = " ".join(self.known_flags) or "none of the known flags"
        masked = f" (masked: {' '.join(sorted(self.masked))})" if self.masked else ""
        return f"{self.model}, {self.cores} usable cores, {flags}{masked}"


def detect(proc_cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuIsa:
    """Detect the CPU. Reads ``/proc/cpuinfo``; falls back to py-cpuinfo elsewhere."""
    model, flags = "", frozenset[str]()
    if proc_cpuinfo.exists():
        model, flags = parse_proc_cpuinfo(proc_cpuinfo.read_text(errors="replace"))
    if not model or not flags:
        import cpuinfo  # py-cpuinfo(2): ~0.2 s, so only when /proc/cpuinfo is not enough

        info = cpuinfo.get_cpu_info()
        model = model or str(info.get("brand_raw", "unknown CPU"))
        flags = flags or frozenset(normalize_flag(f) for f in info.get("flags", []))
    return CpuIsa(model=re.sub(r"\s+", " ", model).strip() or "unknown CPU", cores=usable_cores(),
                  flags=flags)


def parse_mask(value: str | None) -> list[str]:
    """Split a ``--cpuperf-isa-mask`` value (comma or space separated)."""
    if not value:
        return []
    return [part for part in re.split(r"[,\s]+", value) if part]
