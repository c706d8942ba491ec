"""ISA detection: /proc/cpuinfo parsing, spellings, classes, masking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_cpuperf.isa import (
    KNOWN_FLAGS,
    CpuIsa,
    UnknownISAFlagError,
    detect,
    normalize_flag,
    parse_cpu_identity,
    parse_mask,
    parse_proc_cpuinfo,
    validate_flags,
)

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu avx2 avx512f avx512_vnni avx_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: something else
flags\t\t: fpu
"""

ZEN4 = """processor\t: 0
model name\t: AMD EPYC 9654 96-Core Processor
flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni avx512vl
"""


def test_parse_proc_cpuinfo_reads_first_block() -> None:
    model, flags = parse_proc_cpuinfo(SAPPHIRE_RAPIDS)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"amx_int8", "amx_tile", "amx_bf16", "avx512_fp16", "avx_vnni"} <= flags


@pytest.mark.parametrize(("text", "isa_class"), [(SAPPHIRE_RAPIDS, "amx"), (ZEN4, "avx512_vnni")])
def test_isa_class(text: str, isa_class: str) -> None:
    model, flags = parse_proc_cpuinfo(text)
    assert CpuIsa(model, 2, flags).isa_class == isa_class


def test_aliases_map_to_our_names() -> None:
    assert normalize_flag("AVX512VNNI") == "avx512_vnni"
    assert normalize_flag("amx-int8") == "amx_int8"
    assert normalize_flag("avxvnni") == "avx_vnni"


def test_unknown_flag_lists_valid_names() -> None:
    with pytest.raises(UnknownISAFlagError) as info:
        validate_flags(["amx_int8", "avx1024"], "requires_isa")
    message = str(info.value)
    assert "'avx1024'" in message and "amx_int8" in message
    assert all(name in message for name in KNOWN_FLAGS)


def test_has_and_mask() -> None:
    model, flags = parse_proc_cpuinfo(SAPPHIRE_RAPIDS)
    cpu = CpuIsa(model, 4, flags)
    masked = cpu.with_mask(parse_mask("amx_tile, amx_int8"))
    assert cpu.has("amx_int8") and not masked.has("amx_int8")
    assert masked.has("amx_bf16")
    assert masked.isa_class == "avx512_vnni"
    assert "masked: amx_int8 amx_tile" in masked.describe()
    with pytest.raises(UnknownISAFlagError):
        cpu.has("sse9")


def test_detect_uses_affinity_and_this_cpu() -> None:
    cpu = detect()
    assert cpu.cores == len(os.sched_getaffinity(0))
    with open("/proc/cpuinfo") as handle:
        model, flags = parse_proc_cpuinfo(handle.read())
    assert cpu.model == " ".join(model.split())
    assert cpu.has("avx2") == ("avx2" in flags)


def test_identity_unknown_without_vendor_fields() -> None:
    identity = parse_cpu_identity(ZEN4)  # no vendor_id / cpu family / model / stepping lines
    assert tuple(identity) == (None, None, None, None)
    assert "family ?" in CpuIsa.from_proc_cpuinfo(ZEN4, 2).describe()


def test_py_cpuinfo_fallback_reads_the_same_identity(tmp_path: Path) -> None:
    with open("/proc/cpuinfo") as handle:
        expected = parse_cpu_identity(handle.read())
    fallback = detect(tmp_path / "no-proc-cpuinfo")  # real py-cpuinfo (cpuid / lscpu)
    assert fallback.identity == expected
    assert fallback.isa_class == detect().isa_class
