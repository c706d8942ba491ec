"""oneDNN's kernel names: which primitives (and which ISA) really ran in an untimed pass.

The verbose output is read for the stock PyTorch and IPEX backends; the ISA names serve the
OpenVINO backend too, whose CPU plugin names its exec types after oneDNN's implementations.
Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import lru_cache

from ..isa import CpuIsa, detect
from ..records.kernels import KernelReport
from .base import CompiledModel

# An ISA a kernel name spells, most capable first (oneDNN's ``avx512_core_amx``,
# ``avx10_1_512_amx``, ``avx2_vnni_2``, ``sse41``; OpenVINO's ``brgemm_avx512_amx``,
# ``jit_avx2``, ``jit_sse42``, ``ref_any``).
NAMED_ISAS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("amx", re.compile(r"amx")),
    ("avx512", re.compile(r"avx512|avx10")),
    ("avx2", re.compile(r"avx2")),
    ("avx", re.compile(r"avx")),
    ("sse42", re.compile(r"sse42|sse4_2")),
    ("sse41", re.compile(r"sse41|sse4_1")),
    ("ref", re.compile(r"(?:^|[_:])(?:ref|simple)(?:[_:]|$)")),
)
# Words of kernels that run on the best ISA the CPU offers without naming it: oneDNN's
# ``gemm:jit`` and ``jit:uni``, OpenVINO's ``jit_gemm``, ``jit_uni``, ``brgemm_uni``,
# ``gemm_mlas``, ``gemm_any``.
UNNAMED_WORDS = frozenset({"jit", "uni", "gemm", "brgemm", "brg", "brgconv", "brdgmm", "mlas",
                           "any"})
# The widest vector ISA a CPU offers, as /proc/cpuinfo flags (oneDNN's and the plugin's jit
# kernels pick it at run time; AMX only runs in kernels named after it).
VECTOR_ISAS: tuple[tuple[str, str], ...] = (
    ("avx512", "avx512f"), ("avx2", "avx2"), ("avx", "avx"), ("sse42", "sse4_2"),
    ("sse41", "sse4_1"))
MAX_NAMED = 3
"""Kernels named in an inference note before the rest are left out."""


def named_isa(kernel: str) -> str | None:
    """The ISA family ``kernel`` (an OpenVINO exec type or a oneDNN implementation) names:
    ``brgemm_avx512_amx_I8`` and ``brg_matmul:avx10_1_512_amx`` -> ``amx``, ``jit_avx2_FP32``
    -> ``avx2``, ``ref_any_FP32`` -> ``ref``; None for ``jit_gemm_I8``, ``gemm:jit``,
    ``jit:uni``, which name none."""
    name = kernel.lower()
    return next((isa for isa, pattern in NAMED_ISAS if pattern.search(name)), None)


def names_no_isa(kernel: str) -> bool:
    """True for a kernel that runs the CPU's best ISA without naming it (``jit_gemm_I8``)."""
    return bool(UNNAMED_WORDS & set(re.split(r"[^a-z0-9]+", kernel.lower())))


def vector_isa(cpu: CpuIsa) -> str:
    """The widest vector ISA ``cpu`` has (``avx512``, ``avx2``, ...), ``unknown`` for none."""
    return next((isa for isa, flag in VECTOR_ISAS if flag in cpu.flags), "unknown")


@lru_cache(maxsize=1)
def this_cpu() -> CpuIsa:
    """The CPU the runtimes run on (never masked: ``--cpuperf-isa-mask`` hides flags from the
    plugin's gating, not from the runtimes)."""
    return detect()


def kernel_isa(kernel: str, unnamed: str) -> tuple[str, bool]:
    """(ISA, inferred): the ISA ``kernel`` names, else ``unnamed`` (the ISA that kernels that
    name none run on) with inferred True, else ``unknown``."""
    named = named_isa(kernel)
    if named is not None:
        return named, False
    if names_no_isa(kernel) and unnamed != "unknown":
        return unnamed, True
    return "unknown", False


def dominant_isa(kernels: Sequence[str], unnamed: str, source: str = "") -> tuple[str, str]:
    """(dominant ISA, inference note) of the matmul ``kernels`` (``"layer:exec"`` keys or
    implementation names, one per layer); ``unnamed`` is what kernels that name no ISA run,
    ``source`` where that came from beyond the CPU's flags (e.g. ``oneDNN: Intel AVX2``)."""
    if not kernels:
        return "none", ""
    found = [(kernel, *kernel_isa(kernel, unnamed)) for kernel in kernels]
    isa = Counter(isa for _, isa, _ in found).most_common(1)[0][0]
    inferred = Counter(kernel for kernel, _, guessed in found if guessed)
    if not inferred:
        return isa, ""
    shown = [f"{kernel} x{n}" for kernel, n in inferred.most_common(MAX_NAMED)]
    if len(inferred) > MAX_NAMED:
        shown.append(f"{len(inferred) - MAX_NAMED} more")
    basis = f"{unnamed}, {source}" if source else unnamed
    return isa, (f"inferred from the CPU ({basis}): {sum(inferred.values())} of {len(kernels)} "
                 f"matmul kernels name no ISA ({', '.join(shown)})")


@contextlib.contextmanager
def capture_fd_stdout() -> Iterator[list[str]]:
    """Redirect C-level stdout (fd 1) into a temporary file; yields a list that receives the
    captured text when the block ends."""
    box: list[str] = []
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield box
        finally:
            _flush_c_stdio()
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            box.append(tmp.read().decode(errors="replace"))


def _flush_c_stdio() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


def _isa_lines(text: str) -> Iterator[str]:
    """The ``isa:`` header lines of oneDNN verbose output ``text``."""
    for line in text.splitlines():
        if line.startswith(("onednn_verbose", "dnnl_verbose")) and ",isa:" in line:
            yield line


def onednn_isa(text: str) -> tuple[str, str] | None:
    """(vector ISA, oneDNN's own words) from the ``isa:`` line oneDNN's verbose output opens
    with (``isa:Intel AVX2``; it reflects ONEDNN_MAX_CPU_ISA); None without one."""
    for line in _isa_lines(text):
        words = line[line.find(",isa:") + len(",isa:"):].strip()
        plain = words.lower().replace("-", "").replace(".", "")
        for isa, pattern in (("avx512", r"avx512|avx10"), ("avx2", r"avx2"),
                             ("avx", r"avx"), ("sse41", r"sse41")):
            if re.search(pattern, plain):
                return isa, words
    return None


_FIRST_ISA_LINE: dict[str, str] = {}
"""The ``isa:`` line of the first capture in this process that had one."""


def with_isa_line(text: str) -> str:
    """``text`` with oneDNN's ``isa:`` line. oneDNN prints its header once per process, so a
    later capture lacks it; the line the first capture held is put back in front."""
    line = next(_isa_lines(text), None)
    if line is not None:
        _FIRST_ISA_LINE.setdefault("line", line)
        return text
    first = _FIRST_ISA_LINE.get("line")
    return f"{first}\n{text}" if first else text


def unnamed_isa(text: str, cpu: CpuIsa | None) -> tuple[str, str]:
    """(ISA, source) that oneDNN kernels naming no ISA ran on: oneDNN's ``isa:`` line, else
    the widest vector ISA of ``cpu`` (default: this machine's)."""
    reported = onednn_isa(text)
    if reported is not None:
        return reported[0], f"oneDNN: {reported[1]}"
    return vector_isa(cpu or this_cpu()), ""


def parse_onednn_verbose(text: str, cpu: CpuIsa | None = None) -> KernelReport | None:
    """Summarize ``onednn_verbose`` exec lines (primitives, graph partitions, ukernels); None
    when no primitive ran through oneDNN.
    Matmuls that name no ISA (``gemm:jit``) run the ISA oneDNN's ``isa:`` line names, else
    the widest vector ISA of ``cpu`` (default: this machine's)."""
    primitives: list[tuple[str, str]] = []
    others: Counter[str] = Counter()  # graph partitions and ukernels
    for line in text.splitlines():
        if not line.startswith(("onednn_verbose", "dnnl_verbose")):
            continue
        parts = line.split(",")
        if "exec" not in parts:
            continue
        at = parts.index("exec")
        if at >= 1 and parts[at - 1] == "graph" and len(parts) > at + 3:
            others[f"graph:{parts[at + 3]}"] += 1
        elif at >= 1 and parts[at - 1] == "ukernel" and len(parts) > at + 2:
            others[f"ukernel:{parts[at + 2]}"] += 1  # called by ATen kernels (bf16 attention)
        elif len(parts) > at + 3:
            primitives.append((parts[at + 2], parts[at + 3]))
    if not primitives:
        return None
    counts = Counter(f"{kind}:{impl}" for kind, impl in primitives)
    counts.update(others)
    matmuls = [f"{kind}:{impl}" for kind, impl in primitives
               if kind in ("matmul", "inner_product")]
    isa, note = dominant_isa(matmuls, *unnamed_isa(text, cpu))
    return KernelReport(
        exec_types=dict(counts),
        matmul_layers=len(matmuls),
        sparse_layers=sum("sparse" in impl for impl in matmuls),
        amx_layers=sum("amx" in impl for _, impl in primitives),
        dominant_isa=isa,
        isa_inferred=note,
    )


def kernels_note(report: KernelReport | None) -> str:
    """One line for ``effective_config``: what the profiling pass saw of oneDNN."""
    if report is None:
        return ("no oneDNN primitive ran in the profiling pass (MKL/BLAS or generated code), "
                "so the ISA used is unknown")
    if not report.matmul_layers:
        return ("no matmul ran through oneDNN (they went to MKL/BLAS or generated code); "
                f"other oneDNN primitives: {', '.join(sorted(report.exec_types))}")
    inferred = " (inferred from the CPU)" if report.isa_inferred else ""
    return (f"{report.matmul_layers} oneDNN matmul primitives, isa={report.dominant_isa}"
            f"{inferred}, {report.amx_layers} with AMX")


def require_amx(compiled: CompiledModel) -> KernelReport:
    """Fail (AssertionError) unless ``compiled``'s profiling pass ran AMX kernels."""
    report = compiled.kernels()
    if report is None:
        note = compiled.effective_config().get("kernels", "no kernel information")
        raise AssertionError(f"{compiled.label}: AMX kernels required, but {note}")
    if not report.amx:
        top = ", ".join(f"{k} x{v}" for k, v in Counter(report.exec_types).most_common(3))
        raise AssertionError(
            f"{compiled.label}: AMX kernels required, but none ran: {report.matmul_layers} "
            f"matmul primitives used isa={report.dominant_isa} ({top})")
    return report


