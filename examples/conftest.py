"""Models the examples share: bert-base built from its config with seeded weights (no hub).

Each is built once, then cached on disk (see pytest_cpuperf.cache), so only the first run pays
for export and quantization (about two minutes per model on 2 cores).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SEQ_LEN = 64
SPARSITY = 0.8


@pytest.fixture(scope="session")
def bert_base_int8_sparse80(cpuperf_progress: Callable[[str], None]) -> Path:
    """bert-base, 80% unstructured magnitude sparsity in the encoder, NNCF INT8, seq 64."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.bert_base(seq_len=SEQ_LEN), sparsity=SPARSITY,
                    progress=cpuperf_progress)


@pytest.fixture(scope="session")
def bert_base_fp32(cpuperf_progress: Callable[[str], None]) -> Path:
    """The same bert-base, dense FP32 (no pruning, no quantization)."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.bert_base(seq_len=SEQ_LEN), sparsity=0.0, int8=False,
                    progress=cpuperf_progress)


@pytest.fixture(scope="session")
def bert_base_fp32_onnx(cpuperf_progress: Callable[[str], None]) -> Path:
    """The same bert-base, dense FP32, exported to ONNX (dynamic dims, default shape [1, 64])."""
    from pytest_cpuperf.models import BertSpec, build_onnx

    return build_onnx(BertSpec.bert_base(seq_len=SEQ_LEN), progress=cpuperf_progress)
