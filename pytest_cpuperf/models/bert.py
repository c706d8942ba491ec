"""Build test and example models without a model hub.

BERT-like classifiers are built from a transformers config with seeded weights (tiny for tests,
bert-base for examples), pruned to a target unstructured magnitude sparsity on the encoder's
Linear layers, exported to OpenVINO IR with ``torch.export`` and quantized to INT8 with NNCF on
generated calibration data. Results are cached on disk keyed by every parameter and by the
versions of the libraries that produced them, and verified against their manifest before reuse
(:mod:`pytest_cpuperf.cache`): a damaged entry is rebuilt.

Sparse weight decompression applies only to INT8 FullyConnected layers whose two weight
dimensions are multiples of 64: :meth:`BertSpec.tiny` is sized so that every encoder layer
qualifies.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..cache import NOT_BUILT, cache_dir, content_key, lookup, store
from ..errors import CpuperfUsageError
from ..progress import Progress
from ..versions import package_version

RECIPE_VERSION = 2
"""Bump when the build recipe changes, so stale cached models are not reused."""


IR_FILES = ("model.xml", "model.bin")
"""The files an IR cache entry must hold (besides its manifest and ``build.json``)."""


@dataclass(frozen=True)
class BertSpec:
    """Size and seed of a BERT-like sequence classifier."""

    layers: int = 2
    hidden: int = 128
    heads: int = 2
    intermediate: int = 512
    vocab: int = 1024
    seq_len: int = 64
    num_labels: int = 2
    seed: int = 0

    @classmethod
    def tiny(cls, **changes: Any) -> BertSpec:
        """2 layers, hidden 128: compiles in about a second, every weight dim a multiple of 64."""
        return replace(cls(), **changes)

    @classmethod
    def bert_base(cls, **changes: Any) -> BertSpec:
        """bert-base-uncased sizes (12 layers, hidden 768), sequence length 64."""
        return replace(cls(layers=12, hidden=768, heads=12, intermediate=3072, vocab=30522),
                       **changes)

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "heads", "intermediate", "vocab", "seq_len",
                     "num_labels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CpuperfUsageError(f"BertSpec.{name} must be an integer >= 1, got {value!r}")
        if self.hidden % self.heads:
            raise CpuperfUsageError(
                f"BertSpec.hidden ({self.hidden}) must be a multiple of heads ({self.heads})")

    def transformers_config(self) -> Any:
        from transformers import BertConfig

        settings: dict[str, Any] = {
            "vocab_size": self.vocab, "hidden_size": self.hidden,
            "num_hidden_layers": self.layers, "num_attention_heads": self.heads,
            "intermediate_size": self.intermediate,
            "max_position_embeddings": max(512, self.seq_len), "num_labels": self.num_labels,
        }
        return BertConfig(**settings)


def build_torch_bert(spec: BertSpec) -> Any:
    """A ``BertForSequenceClassification`` with weights drawn from ``spec.seed``, in eval mode."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(spec.seed)
    model = BertForSequenceClassification(spec.transformers_config())
    return model.eval()


def encoder_linears(model: Any) -> list[tuple[str, Any]]:
    """The encoder's ``nn.Linear`` layers (attention and feed-forward), by name."""
    import torch

    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and ".encoder." in f".{name}."]


def sparsify_(model: Any, rate: float) -> float:
    """Zero the smallest-magnitude ``rate`` of each encoder Linear's weights; returns the rate
    achieved over those layers."""
    import torch

    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise CpuperfUsageError(f"sparsity must be a number in [0, 1), got {rate!r}")
    zeros = total = 0
    with torch.no_grad():
        for _, layer in encoder_linears(model):
            weight = layer.weight
            count = int(weight.numel() * rate)
            if count:
                threshold = weight.abs().flatten().kthvalue(count).values
                weight[weight.abs() <= threshold] = 0.0
            zeros += int((weight == 0).sum())
            total += weight.numel()
    return zeros / total if total else 0.0


def example_batch(spec: BertSpec, batch: int = 1, seed: int = 0) -> dict[str, Any]:
    """Token ids within the vocabulary, attention mask of ones, token type ids of zeros."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (batch, spec.seq_len)
    return {
        "input_ids": rng.integers(0, spec.vocab, size=shape, dtype=np.int64),
        "attention_mask": np.ones(shape, dtype=np.int64),
        "token_type_ids": np.zeros(shape, dtype=np.int64),
    }


def torch_to_ov(model: Any, spec: BertSpec, batch: int = 1) -> Any:
    """Export a BERT classifier to an ``openvino.Model`` with dynamic batch and sequence dims;
    ``[batch, seq_len]`` is recorded as its default static shape (see :func:`_tag`)."""
    import openvino as ov
    import torch

    # a batch of 2 keeps torch.export from specializing the batch dimension to 1
    example = {k: torch.from_numpy(v) for k, v in example_batch(spec, 2).items()}
    dims = {name: {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO} for name in example}
    exported = torch.export.export(model, args=(), kwargs=example, dynamic_shapes=dims)
    ov_model = ov.convert_model(exported)
    for port, name in zip(ov_model.inputs, example, strict=True):
        port.get_tensor().set_names({name})
    _tag(ov_model, spec, batch)
    return ov_model


def _tag(ov_model: Any, spec: BertSpec, batch: int = 1) -> None:
    """Record the vocabulary size and the default static shape in the model's rt_info: the IR
    keeps dynamic dims (so any shape= works) and ov_compile applies this one by default."""
    ov_model.set_rt_info(str(spec.vocab), "cpuperf_vocab_size")
    ov_model.set_rt_info(f"[{batch},{spec.seq_len}]", "cpuperf_default_shape")


def quantize_int8(ov_model: Any, spec: BertSpec, samples: int = 32,
                  calibration: list[dict[str, Any]] | None = None) -> Any:
    """NNCF post-training INT8 quantization on generated (or given) calibration batches."""
    import nncf

    data = calibration or [example_batch(spec, 1, seed=1000 + i) for i in range(samples)]
    quantized = nncf.quantize(ov_model, nncf.Dataset(data), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(data))
    _tag(quantized, spec)
    return quantized


def _library_versions(packages: tuple[str, ...] = ("openvino", "nncf", "torch", "transformers")
                      ) -> dict[str, str]:
    """Versions of the libraries a build depends on (part of its cache key)."""

    return {package: package_version(package) or "absent" for package in packages}


def build_ir(spec: BertSpec, *, sparsity: float = 0.0, int8: bool = True,
             calibration_samples: int = 32, progress: Progress | None = None,
             directory: Path | None = None) -> Path:
    """Path of the IR (``model.xml``) for ``spec`` pruned to ``sparsity``, INT8 if asked.

    Built once and cached under :func:`~pytest_cpuperf.cache.cache_dir` (or ``directory``);
    the cache key covers every argument, the recipe version and the library versions.
    """
    key_data = {"spec": asdict(spec), "sparsity": sparsity, "int8": int8,
                "calibration_samples": calibration_samples, "recipe": RECIPE_VERSION,
                "versions": _library_versions()}
    name = (f"bert-l{spec.layers}-h{spec.hidden}-s{spec.seq_len}-sp{int(sparsity * 100)}-"
            f"{'int8' if int8 else 'fp32'}-{content_key(key_data)}")
    target = (directory or cache_dir() / "models") / name
    xml = target / "model.xml"
    state = lookup(target, IR_FILES)
    if state is None:
        return xml
    import openvino as ov

    say = progress or (lambda _msg: None)
    announce_rebuild(say, target, state)
    say(f"building {name}: seeded weights, {sparsity:.0%} magnitude sparsity")
    model = build_torch_bert(spec)
    if sparsity:
        sparsify_(model, sparsity)
    say(f"exporting {name} to OpenVINO IR")
    ov_model = torch_to_ov(model, spec)
    if int8:
        say(f"quantizing {name} to INT8 with NNCF ({calibration_samples} calibration samples)")
        ov_model = quantize_int8(ov_model, spec, calibration_samples)

    def write(folder: Path) -> None:
        ov.save_model(ov_model, str(folder / "model.xml"))
        (folder / "build.json").write_text(json.dumps(key_data, indent=2, sort_keys=True))

    store(target, write, IR_FILES)
    return xml


def announce_rebuild(say: Progress, target: Path, state: str) -> None:
    """Say why an existing cache entry is built again (nothing when it was simply absent)."""
    if state != NOT_BUILT:
        say(f"rebuilding the cache entry {target}: it {state}")


def torch_to_onnx(model: Any, spec: BertSpec, path: Path, batch: int = 1) -> None:
    """Export a BERT classifier to ONNX at ``path`` (``torch.onnx.export``, dynamo) with dynamic
    batch and sequence dims; vocabulary size and ``[batch, seq_len]`` go into its metadata
    props ``cpuperf_vocab_size`` / ``cpuperf_default_shape``."""
    _save_onnx(_onnx_program(model, spec), spec, path, batch)


def _onnx_program(model: Any, spec: BertSpec) -> Any:
    """The ``torch.onnx.export`` (dynamo) program of a BERT classifier, dynamic dims."""
    import torch

    # a batch of 2 keeps torch.export from specializing the batch dimension to 1
    example = {k: torch.from_numpy(v) for k, v in example_batch(spec, 2).items()}
    dims = {name: {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO} for name in example}
    program = torch.onnx.export(model, (), kwargs=example, input_names=list(example),
                                output_names=["logits"], dynamic_shapes=dims, dynamo=True,
                                verbose=False)
    assert program is not None
    return program


def _save_onnx(program: Any, spec: BertSpec, path: Path, batch: int = 1) -> None:
    import onnx

    program.save(str(path))
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {"cpuperf_vocab_size": str(spec.vocab),
                                        "cpuperf_default_shape": f"[{batch},{spec.seq_len}]"})
    onnx.save(proto, str(path))


def build_onnx(spec: BertSpec, *, sparsity: float = 0.0, progress: Progress | None = None,
               directory: Path | None = None) -> Path:
    """Path of an FP32 ONNX export (``model.onnx``) of ``spec`` pruned to ``sparsity``.

    Cached like :func:`build_ir`: the key covers every argument, the recipe version and the
    versions of the exporting libraries; the entry appears by an atomic rename and is verified
    against its manifest before reuse.
    """
    key_data = {"spec": asdict(spec), "sparsity": sparsity, "format": "onnx",
                "recipe": RECIPE_VERSION,
                "versions": _library_versions(("torch", "transformers", "onnx", "onnxscript"))}
    name = (f"bert-l{spec.layers}-h{spec.hidden}-s{spec.seq_len}-sp{int(sparsity * 100)}-"
            f"fp32-onnx-{content_key(key_data)}")
    target = (directory or cache_dir() / "models") / name
    onnx_file = target / "model.onnx"
    state = lookup(target, ("model.onnx",))
    if state is None:
        return onnx_file
    say = progress or (lambda _msg: None)
    announce_rebuild(say, target, state)
    say(f"building {name}: seeded weights, {sparsity:.0%} magnitude sparsity")
    model = build_torch_bert(spec)
    if sparsity:
        sparsify_(model, sparsity)
    say(f"exporting {name} to ONNX")
    program = _onnx_program(model, spec)

    def write(folder: Path) -> None:
        _save_onnx(program, spec, folder / "model.onnx")
        (folder / "build.json").write_text(json.dumps(key_data, indent=2, sort_keys=True))

    store(target, write, ("model.onnx",))
    return onnx_file


def load_hub_model(model_id: str, **kwargs: Any) -> Any:
    """Load an OpenVINO model from the Hugging Face hub through optimum-intel (online only).

    Raises :class:`HubUnavailable` when the hub cannot be reached, so callers can skip.
    """
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise HubUnavailable(f"HF_HUB_OFFLINE=1: cannot download {model_id!r}")
    try:
        from optimum.intel import OVModelForSequenceClassification

        return OVModelForSequenceClassification.from_pretrained(model_id, **kwargs)
    except OSError as exc:  # huggingface_hub raises OSError subclasses when offline
        raise HubUnavailable(f"cannot download {model_id!r} from the hub: {exc}") from exc


class HubUnavailable(RuntimeError):
    """The model or dataset hub is not reachable from this machine."""
