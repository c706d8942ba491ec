"""Cold start and memory of every example's model configuration, with run-to-run spread.

    python -m benchmarks.coldstart                # 5 fresh processes per configuration
    python -m benchmarks.coldstart --repeats 3 --only int8
    python -m benchmarks.coldstart --backends torch,ipex   # in the IPEX env (tox -e ipex)

Each row is ``pytest_cpuperf.measure.coldstart`` (what ``cpuperf.cold_start`` records): a
fresh Python process per sample that imports the runtime, reads and compiles the model, reads
``VmHWM``, resets it through /proc/self/clear_refs, runs one first inference and reads
``VmHWM`` again. Cells are median [min-max] over the processes. The bert-base models are built
from their config (seeded weights) and cached on first use, as the examples build them.

The IPEX and stock-PyTorch examples' rows build bert-base with a factory
(:func:`bert_base_torch`) in each process and time ``torch_optimize`` / ``ipex_optimize`` on it
as "read+compile" (build apart, not counted); their model size is the module's parameter bytes.
The children run under this script's own interpreter, so the IPEX rows appear only when the
script runs where IPEX is usable (torch 2.8 + IPEX 2.8: the ``tox -e ipex`` env, with the
project on its path); rows whose runtime is not installed are skipped, said on stderr. The
seed-model accuracy example downloads its model from the hub and has no row.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_cpuperf.backends.ipex import ipex_status
from pytest_cpuperf.isa import usable_cores
from pytest_cpuperf.measure.coldstart import ColdStart, check_request, measure

from .common import cpu_line, say


@dataclass(frozen=True)
class Row:
    """One example's model configuration."""

    name: str
    example: str
    model: Callable[[], Path] | str
    """A function building the model file, or a torch factory ``"package.module:function"``."""
    backend: str = "openvino"
    options: dict[str, Any] = field(default_factory=dict)


def _bert_int8() -> Path:
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.bert_base(seq_len=64), sparsity=0.8, progress=say)


def _bert_fp32() -> Path:
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.bert_base(seq_len=64), sparsity=0.0, int8=False, progress=say)


def _bert_onnx() -> Path:
    from pytest_cpuperf.models import BertSpec, build_onnx

    return build_onnx(BertSpec.bert_base(seq_len=64), progress=say)


def _synthetic(int8: bool) -> Callable[[], Path]:
    def build() -> Path:
        from pytest_cpuperf.models import BertSpec
        from pytest_cpuperf.models.synthetic import trained_ir

        return trained_ir(BertSpec.tiny(), int8=int8, progress=say)

    return build


def bert_base_torch() -> Any:
    """bert-base (seq 64) from its config with seeded weights, as the IPEX example builds it."""
    from pytest_cpuperf.models import BertSpec, build_torch_bert

    return build_torch_bert(BertSpec.bert_base(seq_len=64))


TORCH_FACTORY = f"{__spec__.name if __spec__ else __name__}:bert_base_torch"
EXAMPLE = [1, 64]


def rows() -> list[Row]:
    """The examples' configurations, compiled as the examples compile them."""
    cores = usable_cores()
    common = {"streams": cores, "threads": cores}
    return [
        Row("bert-base int8 sparse80, dense", "openvino/test_sparse_vs_dense", _bert_int8,
            options=common),
        Row("bert-base int8 sparse80, sparse_rate=0.75", "openvino/test_sparse_vs_dense",
            _bert_int8, options={"sparse_rate": 0.75, **common}),
        Row("bert-base fp32 IR, f32", "openvino/test_int8_beats_fp32", _bert_fp32,
            options={"precision": "f32", **common}),
        Row("bert-base fp32 ONNX, OpenVINO f32", "onnxruntime/test_ort_vs_openvino", _bert_onnx,
            options={"precision": "f32", "shape": "[1,64]", **common}),
        Row("bert-base fp32 ONNX, ONNX Runtime", "onnxruntime/test_ort_vs_openvino", _bert_onnx,
            backend="onnxruntime", options={"threads": cores}),
        Row("synthetic tiny fp32", "accuracy/test_synthetic_accuracy", _synthetic(False)),
        Row("synthetic tiny int8", "accuracy/test_synthetic_accuracy", _synthetic(True)),
        Row("bert-base stock PyTorch eager fp32", "ipex/test_stock_eager_fp32", TORCH_FACTORY,
            backend="torch", options={"mode": "eager", "dtype": "fp32",
                                      "example_inputs": EXAMPLE}),
    ] + ([
        Row("bert-base IPEX bf16 jit", "ipex/test_ipex_bf16_jit_beats_stock_fp32",
            TORCH_FACTORY, backend="ipex", options={"dtype": "bf16", "jit": True,
                                                    "example_inputs": EXAMPLE}),
    ] if ipex_status()[0] else [])


RUNTIMES = {"openvino": "openvino", "onnxruntime": "onnxruntime", "torch": "torch",
            "ipex": "intel_extension_for_pytorch"}


HEADER = ("| configuration | backend | read+compile s | first inference ms | peak RSS compile "
          "MB | peak RSS inference MB | model MB |\n|---|---|--:|--:|--:|--:|--:|")


def table_row(row: Row, result: ColdStart) -> str:
    size = f"{result.model_size_mb:.1f}"
    if isinstance(row.model, str):
        size += " (parameters)"
    cells = [row.name, row.backend, result.spread("compile_s", 2),
             result.spread("first_inference_ms", 1), result.spread("peak_rss_compile_mb", 0),
             result.spread("peak_rss_infer_mb", 0), size]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per row")
    parser.add_argument("--only", default="", help="rows whose name contains this text")
    parser.add_argument("--backends", default="",
                        help="comma-separated backends whose rows run (default: all)")
    args = parser.parse_args(argv)
    backends = {b.strip() for b in args.backends.split(",") if b.strip()}
    lines = [f"CPU: {cpu_line()}; {args.repeats} fresh processes per row, median [min-max]",
             "", HEADER]
    versions: dict[str, str] = {}
    reset = True
    for row in rows():
        if (args.only and args.only not in row.name) or (backends and
                                                          row.backend not in backends):
            continue
        if importlib.util.find_spec(RUNTIMES[row.backend]) is None:
            say(f"skipped {row.name}: {RUNTIMES[row.backend]} is not installed here")
            continue
        request = check_request(row.model, backend=row.backend, repeats=args.repeats,
                                options=row.options)
        result = measure(request, progress=say)
        say(result.describe())
        lines.append(table_row(row, result))
        versions.update(result.versions)
        reset = reset and result.peak_reset
    shown = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    lines += ["", f"VmHWM reset between compile and inference: {'yes' if reset else 'no'}; "
                  f"{shown}"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
