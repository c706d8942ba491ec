"""Accuracy and agreement metrics on real OpenVINO models trained on the synthetic task.

The tiny BERT is trained once (about 20 s on one core) and its IRs are cached on disk; every
figure is checked against an independent computation: scikit-learn on logits read straight
from OpenVINO requests, and PyTorch eager outputs of the trained model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_cpuperf.errors import CpuperfUsageError
from pytest_cpuperf.measure.accuracy import (
    AccuracyResult,
    AgreementResult,
    agreement,
    evaluate_accuracy,
    logit_agreement,
    score,
)

pytest.importorskip("openvino")
pytest.importorskip("nncf")
sklearn_metrics = pytest.importorskip("sklearn.metrics")

from pytest_cpuperf.backends.openvino import OVCompiled, check_options, compile_model  # noqa: E402
from pytest_cpuperf.models import BertSpec, synthetic  # noqa: E402

SPEC = BertSpec.tiny()
ROWS = 400


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    """Held-out sentences (the training split uses another seed)."""
    return synthetic.make_dataset(ROWS, SPEC, seed=1)


@pytest.fixture(scope="module")
def irs() -> dict[str, Path]:
    return {
        "fp32": synthetic.trained_ir(SPEC, int8=False),
        "int8": synthetic.trained_ir(SPEC),
        "sparse60": synthetic.trained_ir(SPEC, sparsity=0.6),
        "sparse95": synthetic.trained_ir(SPEC, sparsity=0.95),
    }


@pytest.fixture(scope="module")
def models(irs: dict[str, Path]) -> dict[str, OVCompiled]:
    """FP32 kept in f32 (the CPU plugin would pick bf16 here); the others at their defaults."""
    return {name: compile_model(path, check_options(precision="f32" if name == "fp32" else None))
            for name, path in irs.items()}


def raw_logits(compiled: OVCompiled, data: dict[str, np.ndarray]) -> np.ndarray:
    """Logits read row by row from a fresh OpenVINO request, without accuracy.py."""
    request = compiled.compiled_model.create_infer_request()
    rows = []
    for i in range(len(data["label"])):
        request.infer({n: data[n][i:i + 1] for n in compiled.input_names()})
        rows.append(np.array(request.get_output_tensor(0).data))
    return np.concatenate(rows)


@pytest.fixture(scope="module")
def logits(models: dict[str, OVCompiled], data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: raw_logits(model, data) for name, model in models.items()}


@pytest.fixture(scope="module")
def eager(data: dict[str, np.ndarray]) -> np.ndarray:
    """Logits of the trained PyTorch model itself (eager, FP32)."""
    import torch

    model = synthetic.load_trained(SPEC)
    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in synthetic.inputs_only(data).items()}
                     ).logits.numpy()


class Counting:
    """A real compiled model that counts its predict() calls."""

    def __init__(self, model: OVCompiled) -> None:
        self.model, self.calls = model, 0
        self.label, self.batch_size = model.label, model.batch_size

    def input_names(self) -> tuple[str, ...]:
        return self.model.input_names()

    def predict(self, inputs: Any) -> np.ndarray:
        self.calls += 1
        return self.model.predict(inputs)


# --- the synthetic task ------------------------------------------------------------------


def test_dataset_has_real_padding_and_balanced_labels(data: dict[str, np.ndarray]) -> None:
    mask = data["attention_mask"]
    assert set(data) == {"input_ids", "attention_mask", "token_type_ids", "label"}
    assert (mask.sum(axis=1) < SPEC.seq_len).all()
    assert (data["input_ids"][mask == 0] == synthetic.PAD).all()
    assert (data["input_ids"][:, 0] == synthetic.CLS).all()
    assert 0.4 < data["label"].mean() < 0.6
    again = synthetic.make_dataset(ROWS, SPEC, seed=1)
    assert all(np.array_equal(data[k], again[k]) for k in data)


def test_labels_follow_the_rule(data: dict[str, np.ndarray]) -> None:
    task = synthetic.TaskSpec()
    ids = data["input_ids"]
    first_negative = synthetic.FIRST_WORD + task.words
    positive = ((ids >= synthetic.FIRST_WORD) & (ids < first_negative)).sum(axis=1)
    negative = ((ids >= first_negative) & (ids < first_negative + task.words)).sum(axis=1)
    assert (positive != negative).all()
    assert np.array_equal(data["label"], (positive > negative).astype(np.int64))


def test_openvino_fp32_matches_torch_eager(logits: dict[str, np.ndarray], eager: np.ndarray,
                                           data: dict[str, np.ndarray]) -> None:
    # f32 kernels differ in summation order between CPUs: 1.3e-3 on a Xeon with AMX, below
    # 1e-3 on Zen 4; the INT8 and pruned models below differ by far more
    assert np.abs(eager - logits["fp32"]).max() < 3e-3
    assert np.array_equal(eager.argmax(1), logits["fp32"].argmax(1))


# --- evaluate_accuracy -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fp32", "int8", "sparse60", "sparse95"])
def test_accuracy_matches_sklearn(name: str, models: dict[str, OVCompiled],
                                  logits: dict[str, np.ndarray],
                                  data: dict[str, np.ndarray]) -> None:
    result = evaluate_accuracy(models[name], data)
    expected = sklearn_metrics.accuracy_score(data["label"], logits[name].argmax(1))
    assert isinstance(result, AccuracyResult)
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert (result.metric, result.count, result.model) == ("accuracy", ROWS, models[name].label)


@pytest.mark.parametrize("metric, sk", [
    ("f1", lambda y, p: sklearn_metrics.f1_score(y, p)),
    ("f1_macro", lambda y, p: sklearn_metrics.f1_score(y, p, average="macro")),
    ("matthews", lambda y, p: sklearn_metrics.matthews_corrcoef(y, p)),
])
def test_other_metrics_match_sklearn(metric: str, sk: Any, models: dict[str, OVCompiled],
                                     logits: dict[str, np.ndarray],
                                     data: dict[str, np.ndarray]) -> None:
    for name in ("int8", "sparse95"):
        value = evaluate_accuracy(models[name], data, metric=metric).value
        assert value == pytest.approx(sk(data["label"], logits[name].argmax(1)), abs=1e-12)


def test_multiclass_scores_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 500)
    p = np.where(rng.random(500) < 0.6, y, rng.integers(0, 4, 500))
    p[p == 3] = 2  # class 3 never predicted
    assert score("f1", y, p, 4) == pytest.approx(sklearn_metrics.f1_score(y, p, average="macro"))
    assert score("matthews", y, p, 4) == pytest.approx(sklearn_metrics.matthews_corrcoef(y, p))
    assert score("accuracy", y, p) == pytest.approx(sklearn_metrics.accuracy_score(y, p))


def test_the_gate_story_holds(models: dict[str, OVCompiled], data: dict[str, np.ndarray]) -> None:
    """FP32 is high, INT8 and 60% sparsity stay close, 95% sparsity is clearly worse."""
    value = {name: evaluate_accuracy(model, data).value for name, model in models.items()}
    assert value["fp32"] >= 0.9, value
    assert abs(value["int8"] - value["fp32"]) <= 0.01, value
    assert value["sparse60"] >= value["fp32"] - 0.015, value
    assert value["sparse95"] <= value["fp32"] - 0.05, value


def _iterable_variants(data: dict[str, np.ndarray]) -> dict[str, Any]:
    inputs = synthetic.inputs_only(data)
    n = len(data["label"])
    return {
        "labels key": {**inputs, "labels": data["label"]},
        "lists": {k: v.tolist() for k, v in data.items()},
        "pairs, 1-D rows": [({k: v[i] for k, v in inputs.items()}, int(data["label"][i]))
                            for i in range(n)],
        "pairs, [1, seq] rows": (({k: v[i:i + 1] for k, v in inputs.items()},
                                  data["label"][i:i + 1]) for i in range(n)),
        "pairs, batches of 7": [({k: v[i:i + 7] for k, v in inputs.items()},
                                 data["label"][i:i + 7]) for i in range(0, n, 7)],
    }


def test_dataset_formats_agree(models: dict[str, OVCompiled],
                               data: dict[str, np.ndarray]) -> None:
    expected = evaluate_accuracy(models["sparse95"], data).value
    for name, variant in _iterable_variants(data).items():
        got = evaluate_accuracy(models["sparse95"], variant).value
        assert got == pytest.approx(expected, abs=1e-12), name


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_batch_size_does_not_change_the_result(batch_size: int, models: dict[str, OVCompiled],
                                               data: dict[str, np.ndarray]) -> None:
    counting = Counting(models["sparse95"])
    expected = evaluate_accuracy(models["sparse95"], data).value
    assert evaluate_accuracy(counting, data, batch_size=batch_size).value == expected
    assert counting.calls == -(-ROWS // batch_size)


def test_default_batch_is_the_compiled_batch(irs: dict[str, Path],
                                             data: dict[str, np.ndarray]) -> None:
    batched = compile_model(irs["sparse95"], check_options(shape="[8,64]"))
    counting = Counting(batched)
    result = evaluate_accuracy(counting, data)  # 400 rows: 50 batches of 8
    assert counting.calls == ROWS // 8
    single = compile_model(irs["sparse95"], check_options())
    assert result.value == pytest.approx(evaluate_accuracy(single, data).value, abs=2 / ROWS)


def test_hf_dataset(models: dict[str, OVCompiled], data: dict[str, np.ndarray]) -> None:
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({**{k: v.tolist() for k, v in data.items()},
                                        "sentence": ["x"] * ROWS, "idx": list(range(ROWS))})
    assert evaluate_accuracy(models["int8"], table).value == evaluate_accuracy(
        models["int8"], data).value


# --- usage errors ------------------------------------------------------------------------


@pytest.mark.parametrize("change, words", [
    (lambda d: {k: v for k, v in d.items() if k != "token_type_ids"},
     ["missing", "token_type_ids"]),
    (lambda d: {**d, "position_ids": d["input_ids"]}, ["unknown", "position_ids"]),
    (lambda d: {"ids": d["input_ids"], "label": d["label"]},
     ["missing", "input_ids", "attention_mask", "unknown", "ids"]),
    (lambda d: {k: v for k, v in d.items() if k != "label"}, ["label"]),
    (lambda d: {**d, "labels": d["label"]}, ["both"]),
])
def test_mismatch_raises_before_running(change: Any, words: list[str],
                                        models: dict[str, OVCompiled],
                                        data: dict[str, np.ndarray]) -> None:
    counting = Counting(models["int8"])
    with pytest.raises(CpuperfUsageError) as info:
        evaluate_accuracy(counting, change(data))
    assert all(word in str(info.value) for word in words), str(info.value)
    assert counting.calls == 0


def test_mismatch_in_an_iterable_is_caught_on_the_first_item(
        models: dict[str, OVCompiled], data: dict[str, np.ndarray]) -> None:
    counting = Counting(models["int8"])
    pairs = (({"input_ids": data["input_ids"][i]}, 1) for i in range(ROWS))
    with pytest.raises(CpuperfUsageError, match=r"missing.*attention_mask"):
        evaluate_accuracy(counting, pairs)
    assert counting.calls == 0


@pytest.mark.parametrize("bad, match", [
    ({"metric": "bleu"}, "metric must be one of"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_arguments(bad: dict[str, Any], match: str, models: dict[str, OVCompiled],
                       data: dict[str, np.ndarray]) -> None:
    with pytest.raises(CpuperfUsageError, match=match):
        evaluate_accuracy(models["int8"], data, **bad)


def test_unlabelled_split_is_an_error(models: dict[str, OVCompiled],
                                      data: dict[str, np.ndarray]) -> None:
    with pytest.raises(CpuperfUsageError, match=r"class indices.*-1"):
        evaluate_accuracy(models["int8"], {**data, "label": np.full(ROWS, -1)})


def test_ragged_rows_are_an_error(models: dict[str, OVCompiled],
                                  data: dict[str, np.ndarray]) -> None:
    with pytest.raises(CpuperfUsageError, match="same number of rows"):
        evaluate_accuracy(models["int8"], {**data, "label": data["label"][:-1]})


# --- agreement ---------------------------------------------------------------------------


def independent_agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    from sklearn.metrics.pairwise import paired_cosine_distances

    a, b = a.astype(np.float64), b.astype(np.float64)
    return {"top1_agreement": sklearn_metrics.accuracy_score(b.argmax(1), a.argmax(1)),
            "max_abs_diff": float(np.max(np.abs(a - b))),
            "mean_abs_diff": sklearn_metrics.mean_absolute_error(b.ravel(), a.ravel()),
            "cosine": float(np.mean(1.0 - paired_cosine_distances(a, b)))}


@pytest.mark.parametrize("name", ["int8", "sparse60", "sparse95"])
def test_agreement_matches_an_independent_computation(
        name: str, models: dict[str, OVCompiled], logits: dict[str, np.ndarray],
        data: dict[str, np.ndarray]) -> None:
    result = agreement(models[name], models["fp32"], synthetic.inputs_only(data))
    expected = independent_agreement(logits[name], logits["fp32"])
    assert isinstance(result, AgreementResult)
    for figure, value in expected.items():
        assert getattr(result, figure) == pytest.approx(value, rel=1e-9, abs=1e-12), figure
    assert (result.count, result.candidate, result.reference) == (
        ROWS, models[name].label, models["fp32"].label)


def test_agreement_against_torch_eager(models: dict[str, OVCompiled], eager: np.ndarray,
                                       logits: dict[str, np.ndarray],
                                       data: dict[str, np.ndarray]) -> None:
    """INT8 against the trained PyTorch model itself: close, but not identical."""
    result = agreement(models["int8"], models["fp32"], data)  # labels are ignored
    expected = independent_agreement(logits["int8"], eager)
    assert result.top1_agreement == pytest.approx(expected["top1_agreement"], abs=2 / ROWS)
    assert result.max_abs_diff == pytest.approx(expected["max_abs_diff"], abs=2e-3)
    assert result.cosine == pytest.approx(expected["cosine"], abs=1e-4)
    assert result.max_abs_diff > 0 and result.top1_agreement >= 0.99


def test_agreement_separates_good_from_broken(models: dict[str, OVCompiled],
                                              data: dict[str, np.ndarray]) -> None:
    inputs = synthetic.inputs_only(data)
    same = agreement(models["fp32"], models["fp32"], inputs)
    assert (same.top1_agreement, same.max_abs_diff, same.cosine) == (1.0, 0.0, pytest.approx(1.0))
    good = agreement(models["int8"], models["fp32"], inputs)
    broken = agreement(models["sparse95"], models["fp32"], inputs)
    assert good.top1_agreement > 0.98 > 0.9 > broken.top1_agreement
    assert broken.mean_abs_diff > 5 * good.mean_abs_diff


def test_agreement_input_formats(models: dict[str, OVCompiled],
                                 data: dict[str, np.ndarray]) -> None:
    inputs = synthetic.inputs_only(data)
    expected = agreement(models["int8"], models["fp32"], inputs)
    rows = [{k: v[i] for k, v in inputs.items()} for i in range(ROWS)]
    assert agreement(models["int8"], models["fp32"], rows, batch_size=16) == expected
    with pytest.raises(CpuperfUsageError, match=r"unknown.*extra"):
        agreement(models["int8"], models["fp32"], {**inputs, "extra": inputs["input_ids"]})


def test_logit_agreement_edge_cases() -> None:
    a = np.array([[1.0, 0.0], [0.0, 0.0]])
    figures = logit_agreement(a, a.copy())
    assert figures["cosine"] == 1.0 and figures["top1_agreement"] == 1.0
    assert logit_agreement(a, -a)["cosine"] == pytest.approx(0.0)  # (-1 + 1) / 2
    assert logit_agreement(a, np.ones((2, 2)))["cosine"] == pytest.approx(0.5 ** 0.5 / 2)
    with pytest.raises(CpuperfUsageError, match="shape"):
        logit_agreement(a, np.zeros((2, 3)))

