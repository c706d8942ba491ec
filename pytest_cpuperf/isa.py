"""CPU capability detection: identity (vendor, family, model), usable cores, ISA flags.

Flags come from ``/proc/cpuinfo`` (Linux) with py-cpuinfo as the fallback, never from
OpenVINO's OPTIMIZATION_CAPABILITIES, which lists INT8 on every CPU.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

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


#: ``vendor_id`` of /proc/cpuinfo (and py-cpuinfo's ``vendor_id_raw``) -> our short name.
VENDORS: dict[str, str] = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}


class CpuIdentity(NamedTuple):
    """What tells CPU generations apart: vendor, family, model number, stepping (None: unknown).

    Marketing names do not ("AMD EPYC" is a Zen 4 and a Zen 5 alike in many VMs)."""

    vendor: str | None = None
    family: int | None = None
    model_number: int | None = None
    stepping: int | None = None


def _vendor_name(raw: str) -> str | None:
    raw = raw.strip()
    return VENDORS.get(raw, raw.lower() or None)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def parse_cpu_identity(text: str) -> CpuIdentity:
    """The identity fields of the first processor block of ``/proc/cpuinfo``."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() and fields:
            break
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    vendor = fields.get("vendor_id")
    return CpuIdentity(
        vendor=None if vendor is None else _vendor_name(vendor),
        family=_int_or_none(fields.get("cpu family")),
        model_number=_int_or_none(fields.get("model")),
        stepping=_int_or_none(fields.get("stepping")),
    )


def identity_from_cpuinfo(info: Mapping[str, Any]) -> CpuIdentity:
    """The identity from py-cpuinfo's ``get_cpu_info()`` (the fallback off Linux)."""
    vendor = info.get("vendor_id_raw")
    return CpuIdentity(
        vendor=_vendor_name(str(vendor)) if vendor else None,
        family=_int_or_none(info.get("family")),
        model_number=_int_or_none(info.get("model")),
        stepping=_int_or_none(info.get("stepping")),
    )


def _fill_missing(known: CpuIdentity, fallback: CpuIdentity) -> CpuIdentity:
    return known._replace(**{name: value for name, value in fallback._asdict().items()
                             if getattr(known, name) is None})


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
    vendor: str | None = None
    """``intel``, ``amd`` (from ``vendor_id``), another vendor's id lower-cased, or None."""
    family: int | None = None
    """``cpu family`` (6: Intel Core/Xeon; 25: AMD Zen 3/4; 26: AMD Zen 5)."""
    model_number: int | None = None
    """The numeric ``model`` (143: Sapphire Rapids; 17: Zen 4 Genoa; 2: Zen 5 Turin)."""
    stepping: int | None = None

    @classmethod
    def from_proc_cpuinfo(cls, text: str, cores: int) -> CpuIsa:
        """The CPU described by a ``/proc/cpuinfo`` text, with ``cores`` usable cores."""
        model, flags = parse_proc_cpuinfo(text)
        return cls(model, cores, flags).with_identity(parse_cpu_identity(text))

    @property
    def identity(self) -> CpuIdentity:
        return CpuIdentity(self.vendor, self.family, self.model_number, self.stepping)

    def with_identity(self, identity: CpuIdentity) -> CpuIsa:
        return replace(self, vendor=identity.vendor, family=identity.family,
                       model_number=identity.model_number, stepping=identity.stepping)

    @property
    def all_flags(self) -> tuple[str, ...]:
        """Every flag the CPU reports (normalized, sorted), not only the known ones."""
        return tuple(sorted(self.flags))

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
        return replace(self, flags=self.flags - hidden, masked=self.masked | hidden)

    def describe(self) -> str:
        """One line for the pytest header."""
        flags = " ".join(self.known_flags) or "none of the known flags"
        masked = f" (masked: {' '.join(sorted(self.masked))})" if self.masked else ""
        return f"{self.model}, {self.cores} usable cores, {flags}{masked}; {self.generation()}"

    def generation(self) -> str:
        """``intel family 6 model 167 stepping 1``: the fields that tell generations apart."""
        parts = [self.vendor or "unknown vendor"]
        for label, value in (("family", self.family), ("model", self.model_number),
                             ("stepping", self.stepping)):
            parts.append(f"{label} {'?' if value is None else value}")
        return " ".join(parts)


def detect(proc_cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuIsa:
    """Detect the CPU. Reads ``/proc/cpuinfo``; falls back to py-cpuinfo elsewhere."""
    model, flags, identity = "", frozenset[str](), CpuIdentity()
    if proc_cpuinfo.exists():
        text = proc_cpuinfo.read_text(errors="replace")
        model, flags = parse_proc_cpuinfo(text)
        identity = parse_cpu_identity(text)
    if not model or not flags or None in identity:
        import cpuinfo  # py-cpuinfo(2): ~0.2 s, so only when /proc/cpuinfo is not enough

        info = cpuinfo.get_cpu_info()
        model = model or str(info.get("brand_raw", "unknown CPU"))
        flags = flags or frozenset(normalize_flag(f) for f in info.get("flags", []))
        identity = _fill_missing(identity, identity_from_cpuinfo(info))
    cpu = CpuIsa(model=re.sub(r"\s+", " ", model).strip() or "unknown CPU", cores=usable_cores(),
                 flags=flags)
    return cpu.with_identity(identity)


def parse_mask(value: str | None) -> list[str]:
    """Split a ``--cpuperf-isa-mask`` value (comma or space separated)."""
    if not value:
        return []
    return [part for part in re.split(r"[,\s]+", value) if part]
