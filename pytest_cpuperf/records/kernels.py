"""What the kernels that ran say about a compiled model: layer counts, ISA, exec types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class KernelReport:
    """Which kernels really ran, from a profiling pass that was never timed."""

    ISAS: ClassVar[tuple[str, ...]] = (
        "amx", "avx512", "avx2", "avx", "sse42", "sse41", "ref", "unknown", "none")
    """Every :attr:`dominant_isa` a report can name (``unknown``: no name the backend can
    classify; ``none``: no matmul ran)."""

    exec_types: Mapping[str, int]
    """``"<layer type>:<exec type>" -> count`` over executed layers."""
    matmul_layers: int
    """FullyConnected (MatMul with constant weights) layers that ran."""
    sparse_layers: int
    """Of those, layers that ran a sparse weight-decompression kernel."""
    amx_layers: int
    """Layers of any type whose kernel name says AMX."""
    dominant_isa: str
    """The ISA most matmul kernels used: one of :attr:`ISAS`."""
    isa_inferred: str = ""
    """Empty when the matmul kernels name their ISA; else how it was inferred, e.g.
    ``inferred from the CPU (avx2): 14 of 14 matmul kernels name no ISA (...)``: a kernel
    such as ``jit_gemm_I8`` runs the widest vector ISA the CPU has."""

    @property
    def sparse(self) -> bool:
        return self.sparse_layers > 0

    @property
    def amx(self) -> bool:
        return self.amx_layers > 0

    def summary(self) -> str:
        """Short text such as ``55/56 FC sparse, AMX, isa=amx``."""
        parts = [f"{self.sparse_layers}/{self.matmul_layers} FC sparse"]
        parts.append("AMX" if self.amx else "no AMX")
        parts.append(f"isa={self.dominant_isa}"
                     + (" (inferred from the CPU)" if self.isa_inferred else ""))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exec_types"] = dict(sorted(self.exec_types.items()))
        if not self.isa_inferred:
            del data["isa_inferred"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KernelReport:
        return cls(
            exec_types=dict(data.get("exec_types", {})),
            matmul_layers=int(data.get("matmul_layers", 0)),
            sparse_layers=int(data.get("sparse_layers", 0)),
            amx_layers=int(data.get("amx_layers", 0)),
            dominant_isa=str(data.get("dominant_isa", "unknown")),
            isa_inferred=str(data.get("isa_inferred", "")),
        )
