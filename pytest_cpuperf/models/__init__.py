"""Build test and example models without a model hub (``pytest_cpuperf.models``).

:mod:`.bert` builds BERT-like classifiers from a config with seeded weights, prunes, exports
(OpenVINO IR, ONNX) and quantizes them, cached on disk; :mod:`.synthetic` is a learnable task
and a tiny BERT trained on it.
"""

from .bert import (
    RECIPE_VERSION,
    BertSpec,
    HubUnavailable,
    build_ir,
    build_onnx,
    build_torch_bert,
    encoder_linears,
    example_batch,
    load_hub_model,
    quantize_int8,
    sparsify_,
    torch_to_onnx,
    torch_to_ov,
)

__all__ = [
    "RECIPE_VERSION", "BertSpec", "HubUnavailable", "build_ir", "build_onnx",
    "build_torch_bert", "encoder_linears", "example_batch", "load_hub_model", "quantize_int8",
    "sparsify_", "torch_to_onnx", "torch_to_ov",
]
