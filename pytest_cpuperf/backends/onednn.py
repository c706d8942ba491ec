"""oneDNN's verbose output: which primitives (and which ISA) really ran in an untimed pass.

Used by the stock PyTorch and IPEX backends; nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator

from ..measure.measurement import KernelReport
from .base import CompiledModel, isa_of


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


def parse_onednn_verbose(text: str) -> KernelReport | None:
    """Summarize ``onednn_verbose`` exec lines; None when no primitive ran through oneDNN."""
    primitives: list[tuple[str, str]] = []
    graphs: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith(("onednn_verbose", "dnnl_verbose")):
            continue
        parts = line.split(",")
        if "exec" not in parts:
            continue
        at = parts.index("exec")
        if at >= 1 and parts[at - 1] == "graph" and len(parts) > at + 3:
            graphs[f"graph:{parts[at + 3]}"] += 1
        elif len(parts) > at + 3:
            primitives.append((parts[at + 2], parts[at + 3]))
    if not primitives:
        return None
    counts = Counter(f"{kind}:{impl}" for kind, impl in primitives)
    counts.update(graphs)
    matmuls = [impl for kind, impl in primitives if kind in ("matmul", "inner_product")]
    votes = Counter(isa_of(impl) for impl in matmuls)
    return KernelReport(
        exec_types=dict(counts),
        matmul_layers=len(matmuls),
        sparse_layers=sum("sparse" in impl for impl in matmuls),
        amx_layers=sum("amx" in impl for _, impl in primitives),
        dominant_isa=votes.most_common(1)[0][0] if votes else "none",
    )


def kernels_note(report: KernelReport | None) -> str:
    """One line for ``effective_config``: what the profiling pass saw of oneDNN."""
    if report is None:
        return ("no oneDNN primitive ran in the profiling pass (MKL/BLAS or generated code), "
                "so the ISA used is unknown")
    if not report.matmul_layers:
        return ("no matmul ran through oneDNN (they went to MKL/BLAS or generated code); "
                f"other oneDNN primitives: {', '.join(sorted(report.exec_types))}")
    return (f"{report.matmul_layers} oneDNN matmul primitives, isa={report.dominant_isa}, "
            f"{report.amx_layers} with AMX")


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


