"""Machine identity: CPU generations that share a marketing name get different baseline keys,
and a baseline recorded on another machine (or by a schema-1 plugin) is never judged silently.

The /proc/cpuinfo texts are first processor blocks of real machines, trimmed to the fields the
plugin reads and the flags that matter (the order and spelling are the kernel's).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_cpuperf.isa import CpuIsa, detect, parse_cpu_identity
from pytest_cpuperf.records.results import MetricRecord
from pytest_cpuperf.store.baselines import (
    baseline_path,
    legacy_baseline_path,
    legacy_machine_key,
    machine_info,
    machine_key,
    machine_mismatch,
    update_file,
)

_COMMON = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx "
           "fxsr sse sse2 ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl cpuid pni "
           "pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c "
           "rdrand hypervisor lahf_lm abm fsgsbase bmi1 avx2 smep bmi2 erms invpcid avx512f "
           "avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl "
           "xsaveopt xsavec xgetbv1 xsaves")
_AMD = ("mmxext fxsr_opt extd_apicid cmp_legacy cr8_legacy sse4a misalignsse 3dnowprefetch osvw "
        "topoext ssbd ibrs ibpb stibp vmmcall avx512_bf16 clzero xsaveerptr rdpru wbnoinvd arat "
        "avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg "
        "avx512_vpopcntdq rdpid fsrm")
_INTEL = ("avx_vnni avx512_bf16 wbnoinvd arat avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes "
          "vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid movdiri movdir64b fsrm "
          "md_clear serialize tsxldtrk amx_bf16 avx512_fp16 amx_tile amx_int8 arch_capabilities")


def _cpuinfo(vendor: str, family: int, model: int, name: str, stepping: int, flags: str) -> str:
    return (f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
            f"model name\t: {name}\nstepping\t: {stepping}\nmicrocode\t: 0x1\n"
            f"cpu MHz\t\t: 2400.000\nflags\t\t: {flags}\n\n"
            f"processor\t: 1\nvendor_id\t: {vendor}\ncpu family\t: 1\nmodel\t\t: 1\n"
            f"model name\t: second block, never read\nflags\t\t: fpu\n")


ZEN4 = _cpuinfo("AuthenticAMD", 25, 17, "AMD EPYC", 1, f"{_COMMON} {_AMD}")
ZEN5 = _cpuinfo("AuthenticAMD", 26, 2, "AMD EPYC", 1,
                f"{_COMMON} {_AMD} avx_vnni avx512_vp2intersect movdiri movdir64b")
SAPPHIRE_RAPIDS = _cpuinfo("GenuineIntel", 6, 143, "Intel(R) Xeon(R) Platinum 8480+", 8,
                           f"{_COMMON} {_INTEL}")
XEON_167 = _cpuinfo("GenuineIntel", 6, 167, "Intel(R) Xeon(R) Processor", 1,
                    f"{_COMMON} {_INTEL}")


@pytest.mark.parametrize(("text", "identity", "isa_class", "key"), [
    (ZEN4, ("amd", 25, 17, 1), "avx512_vnni", "amd-epyc--amd-f25-m17--avx512_vnni--2c"),
    (ZEN5, ("amd", 26, 2, 1), "avx512_vnni", "amd-epyc--amd-f26-m2--avx512_vnni--2c"),
    (SAPPHIRE_RAPIDS, ("intel", 6, 143, 8), "amx",
     "intel-xeon-platinum-8480--intel-f6-m143--amx--2c"),
    (XEON_167, ("intel", 6, 167, 1), "amx", "intel-xeon-processor--intel-f6-m167--amx--2c"),
])
def test_identity_and_key_from_proc_cpuinfo(text: str, identity: tuple[object, ...],
                                            isa_class: str, key: str) -> None:
    assert tuple(parse_cpu_identity(text)) == identity
    cpu = CpuIsa.from_proc_cpuinfo(text, cores=2)
    assert (cpu.vendor, cpu.family, cpu.model_number, cpu.stepping) == identity
    assert cpu.isa_class == isa_class
    assert machine_key(cpu) == key


def test_zen4_and_zen5_named_alike_get_different_keys() -> None:
    zen4, zen5 = (CpuIsa.from_proc_cpuinfo(t, cores=2) for t in (ZEN4, ZEN5))
    assert zen4.model == zen5.model == "AMD EPYC"
    assert legacy_machine_key(zen4) == legacy_machine_key(zen5) == "amd-epyc--avx512_vnni--2c"
    assert machine_key(zen4) != machine_key(zen5)


def test_all_flags_are_kept_and_known_flags_stay() -> None:
    zen5 = CpuIsa.from_proc_cpuinfo(ZEN5, cores=2)
    assert {"avx512_vp2intersect", "movdir64b", "sse4a"} <= set(zen5.all_flags)
    assert "avx512_vp2intersect" not in zen5.known_flags
    assert zen5.has("avx_vnni") and not zen5.has("amx_int8")
    info = machine_info(zen5)
    assert "avx512_vp2intersect" in info["all_flags"].split()
    assert (info["vendor"], info["family"], info["model"], info["stepping"]) == ("amd", 26, 2, 1)


def test_stepping_is_stored_but_not_keyed() -> None:
    b0 = CpuIsa.from_proc_cpuinfo(SAPPHIRE_RAPIDS, cores=2)
    e5 = CpuIsa.from_proc_cpuinfo(SAPPHIRE_RAPIDS.replace("stepping\t: 8", "stepping\t: 6"), 2)
    assert machine_key(b0) == machine_key(e5)
    assert machine_info(e5)["stepping"] == 6
    assert machine_mismatch(machine_info(b0), machine_info(e5)) is None


def test_mask_changes_the_key_and_keeps_the_identity() -> None:
    cpu = CpuIsa.from_proc_cpuinfo(XEON_167, cores=2)
    masked = cpu.with_mask(["amx_tile", "amx_int8"])
    assert masked.identity == cpu.identity
    assert machine_key(masked) == "intel-xeon-processor--intel-f6-m167--avx512_vnni--2c"
    assert machine_info(masked)["masked"] == ["amx_int8", "amx_tile"]


def test_mismatch_names_the_fields_that_differ() -> None:
    zen4, zen5 = (machine_info(CpuIsa.from_proc_cpuinfo(t, cores=2)) for t in (ZEN4, ZEN5))
    assert machine_mismatch(zen4, zen4) is None
    assert machine_mismatch(zen4, zen5) == (
        "recorded on another machine (cpu family 25 -> 26, model 17 -> 2, flags +avx_vnni)")
    legacy = {"key": "amd-epyc--avx512_vnni--2c", "cpu": "AMD EPYC", "isa_class": "avx512_vnni",
              "cores": 2, "flags": ["avx512f"]}
    assert 'identified only by "AMD EPYC"' in str(machine_mismatch(legacy, zen5))


def test_detect_reads_this_machines_identity() -> None:
    text = Path("/proc/cpuinfo").read_text()
    cpu = detect()
    assert cpu.identity == parse_cpu_identity(text)
    assert cpu.family is not None and f"-f{cpu.family}-" in machine_key(cpu)


# --- through pytest ---------------------------------------------------------------------------

RECORDING_TEST = """
import pytest


@pytest.mark.cpuperf
def test_model(cpuperf):
    cpuperf.record("throughput", 110.3, kind="throughput", unit="samples/s",
                   samples=[109.0, 110.3, 111.5])
    cpuperf.record("accuracy", 0.80, kind="accuracy")
"""
TEST_ID = "test_perf.py::test_model"


def _stored(test_id: str, throughput: float, accuracy: float) -> list[MetricRecord]:
    return [MetricRecord(test_id=test_id, metric="throughput", kind="throughput",
                         unit="samples/s", value=throughput,
                         samples=[throughput * 0.99, throughput, throughput * 1.01],
                         date="2026-11-20T00:00:00+00:00"),
            MetricRecord(test_id=test_id, metric="accuracy", kind="accuracy", unit="",
                         value=accuracy, date="2026-11-20T00:00:00+00:00")]


def test_baseline_of_another_machine_is_not_judged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_perf=RECORDING_TEST)
    cpu = detect()
    here = machine_info(cpu)
    other_family = (cpu.family or 0) + 1
    # a file copied by hand from another generation under this machine's name
    path = baseline_path(pytester.path / ".cpuperf", cpu)
    update_file(path, {**here, "family": other_family}, _stored(TEST_ID, 64.4, 0.80))
    before = path.read_bytes()
    result = pytester.runpytest("--cpuperf")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*throughput*64.4*110.3*other machine*",
        "OTHER MACHINE: throughput of test_perf.py::test_model: 110.3 samples/s, not judged "
        "against baseline 64.4 samples/s (*): the baseline was recorded on another machine "
        f"(cpu family {other_family} -> {cpu.family}), yet it is in this machine's file "
        f"{path.name}: move that file aside first. Record this machine's baseline with "
        "--cpuperf-update",
    ])
    # accuracy on the same data is judged across machines, with a note
    result.stdout.fnmatch_lines(["*accuracy*0.8000*0.8000*pass*"])
    assert "improvement" not in result.stdout.str()
    assert path.read_bytes() == before
    # updating would relabel the other machine's records as this machine's: refused, file kept
    update = pytester.runpytest("--cpuperf", "--cpuperf-update")
    assert update.ret == pytest.ExitCode.TESTS_FAILED
    update.stdout.fnmatch_lines([f"cpuperf: baselines NOT updated: {path} holds baselines "
                                 f"recorded on another machine (*); it was left untouched. Move it "
                                 f"aside to record this machine's baselines"])
    assert path.read_bytes() == before


def test_floor_still_applies_against_another_machine(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_perf=RECORDING_TEST.replace(
        "@pytest.mark.cpuperf", "@pytest.mark.cpuperf(min_throughput=200)"))
    cpu = detect()
    update_file(baseline_path(pytester.path / ".cpuperf", cpu),
                {**machine_info(cpu), "cores": cpu.cores + 6}, _stored(TEST_ID, 64.4, 0.80))
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]below floor[]]*110.3 samples/s, below the floor*"])


def test_schema1_file_is_reported_kept_and_update_writes_beside_it(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_perf=RECORDING_TEST)
    cpu = detect()
    directory = pytester.path / ".cpuperf"
    legacy = legacy_baseline_path(directory, cpu)
    # what pytest-cpuperf wrote before the identity was stored: name, ISA class, cores, flags
    schema1_machine = {"key": legacy.stem, "cpu": cpu.model, "isa_class": cpu.isa_class,
                       "cores": cpu.cores, "flags": list(cpu.known_flags)}
    update_file(legacy, schema1_machine, _stored(TEST_ID, 64.4, 0.80))
    before, mtime = legacy.read_bytes(), legacy.stat().st_mtime_ns
    assert json.loads(before)["schema_version"] == 1

    judged = pytester.runpytest("--cpuperf")
    assert judged.ret == pytest.ExitCode.OK
    judged.stdout.fnmatch_lines([
        f'OTHER MACHINE: throughput of {TEST_ID}: 110.3 samples/s, not judged against baseline '
        f'64.4 samples/s (*): the baseline was recorded on a machine identified only by '
        f'"{cpu.model}" (no vendor, family or model recorded). Record this machine\'s baseline '
        f'with --cpuperf-update'])

    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    new = baseline_path(directory, cpu)
    assert new != legacy and new.exists()
    stored = json.loads(new.read_text())
    assert stored["machine"]["family"] == cpu.family
    assert [r["value"] for r in stored["records"][TEST_ID]["throughput"]["runs"]] == [110.3]
    assert legacy.read_bytes() == before and legacy.stat().st_mtime_ns == mtime

    again = pytester.runpytest("--cpuperf")
    again.stdout.fnmatch_lines(["*throughput*110.3*110.3*pass*"])
    assert "other machine" not in again.stdout.str()


def test_cpuperf_machine_prints_identity_and_both_keys(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_cpuperf.cli import main

    cpu = detect()
    assert main(["machine"]) == 0
    out = capsys.readouterr().out
    assert (f"Identity:     vendor {cpu.vendor}, cpu family {cpu.family}, model "
            f"{cpu.model_number}, stepping {cpu.stepping}") in out
    assert f"Baseline key: {machine_key(cpu)} " in out
    assert f"Legacy key:   {legacy_machine_key(cpu)} " in out
    assert main(["machine", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["vendor"], info["family"], info["model"], info["stepping"]) == tuple(cpu.identity)
    assert info["key"] == machine_key(cpu)
