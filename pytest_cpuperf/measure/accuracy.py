"""Accuracy of a compiled model on labelled data, and agreement of two models' logits.

Pure numpy: the model runs through its backend's ``predict()`` (real inputs, never timed, never
the random fill used for timing). Datasets come in three shapes:

* a dict of arrays (``input_ids``, ``attention_mask``..., and ``label`` or ``labels``), one row
  per example;
* an iterable of ``(inputs, label)`` pairs, ``inputs`` a dict of one example's arrays (with or
  without a leading batch axis of 1) or of a batch of rows with an array of labels;
* a Hugging Face ``datasets.Dataset`` (columns the model does not take, such as ``sentence`` or
  ``idx``, are ignored as the Trainer does).

For the first two, every key must be an input of the model (or the label): a mismatch is a
:class:`~pytest_cpuperf.errors.CpuperfUsageError` naming the missing and unknown keys, raised
before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol

import numpy as np

from ..errors import CpuperfUsageError

LABEL_KEYS = ("label", "labels")
METRICS = ("accuracy", "f1", "f1_macro", "matthews")
"""``f1`` is the F1 of class 1 for two classes and the macro F1 otherwise."""
DATASET_CHUNK = 1024
"""Rows read at a time from a ``datasets.Dataset``."""

Arrays = dict[str, np.ndarray]
Block = tuple[Arrays, "np.ndarray | None"]


class Predictor(Protocol):
    """What accuracy needs from a compiled model (every backend's ``CompiledModel`` has it)."""

    label: str

    @property
    def batch_size(self) -> int: ...

    def input_names(self) -> tuple[str, ...]: ...

    def predict(self, inputs: Mapping[str, Any]) -> np.ndarray: ...


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccuracyResult:
    """One accuracy-like figure of one model on one dataset."""

    metric: str
    value: float
    count: int
    """Examples evaluated."""
    model: str = ""
    """Label of the compiled model."""
    kind: str = "accuracy"
    unit: str = ""
    higher_is_better: bool = True

    def describe(self) -> str:
        return f"{self.model or 'model'}: {self.metric} {self.value:.4f} on {self.count} examples"


@dataclass(frozen=True)
class AgreementResult:
    """How closely a candidate model's logits follow a reference model's on the same inputs."""

    top1_agreement: float
    """Fraction of examples whose arg-max class is the same."""
    max_abs_diff: float
    """Largest absolute difference of any logit."""
    mean_abs_diff: float
    """Mean absolute difference over all logits."""
    cosine: float
    """Mean cosine similarity of the two logit rows of each example."""
    count: int
    candidate: str = ""
    reference: str = ""

    FIGURES = (("top1_agreement", True), ("max_abs_diff", False), ("mean_abs_diff", False),
               ("cosine", True))
    """(figure, higher is better) in report order."""

    def describe(self) -> str:
        return (f"{self.candidate or 'candidate'} vs {self.reference or 'reference'} on "
                f"{self.count} examples: top-1 agreement {self.top1_agreement:.4f}, max |diff| "
                f"{self.max_abs_diff:.4g}, mean |diff| {self.mean_abs_diff:.4g}, "
                f"cosine {self.cosine:.6f}")


# --- public functions ------------------------------------------------------------------


def evaluate_accuracy(compiled: Predictor, dataset: object, *, metric: str = "accuracy",
                      batch_size: int | None = None) -> AccuracyResult:
    """Run ``compiled`` over a labelled ``dataset`` and score its arg-max predictions."""
    if metric not in METRICS:
        raise CpuperfUsageError(
            f"metric must be one of {', '.join(map(repr, METRICS))}, got {metric!r}")
    step = _batch_size(batch_size, compiled)
    names = tuple(compiled.input_names())
    predicted: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    classes = 0
    for inputs, label in _rebatch(_blocks(dataset, [names], labelled=True), step):
        logits = _logits(compiled, inputs)
        classes = max(classes, _classes(logits))
        predicted.append(_argmax(logits))
        labels.append(label)  # type: ignore[arg-type]
    if not labels:
        raise CpuperfUsageError("the dataset is empty: accuracy needs at least one example")
    y_true = np.concatenate(labels)
    _check_labels(y_true, classes)
    value = score(metric, y_true, np.concatenate(predicted), classes)
    return AccuracyResult(metric=metric, value=value, count=int(y_true.size),
                          model=getattr(compiled, "label", ""))


def agreement(candidate: Predictor, reference: Predictor, inputs: object, *,
              batch_size: int | None = None) -> AgreementResult:
    """Top-1 agreement and logit differences of ``candidate`` against ``reference`` on the same
    real ``inputs`` (a dict of arrays, an iterable of input dicts, or a dataset; labels are
    ignored)."""
    step = _batch_size(batch_size, candidate)
    names = [tuple(candidate.input_names()), tuple(reference.input_names())]
    ours: list[np.ndarray] = []
    theirs: list[np.ndarray] = []
    for batch, _ in _rebatch(_blocks(inputs, names, labelled=False), step):
        ours.append(_logits(candidate, batch))
        theirs.append(_logits(reference, batch))
    if not ours:
        raise CpuperfUsageError("agreement needs at least one input row")
    figures = logit_agreement(np.concatenate(ours), np.concatenate(theirs))
    return AgreementResult(**figures, candidate=getattr(candidate, "label", ""),
                           reference=getattr(reference, "label", ""))


def logit_agreement(candidate: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """The :class:`AgreementResult` figures of two ``[rows, classes]`` logit arrays."""
    a = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise CpuperfUsageError(
            f"the two models' outputs differ in shape: {a.shape} (candidate) vs {b.shape} "
            f"(reference); agreement compares models of the same task")
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    diff = np.abs(a - b)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    both_zero = (np.linalg.norm(a, axis=1) == 0) & (np.linalg.norm(b, axis=1) == 0)
    cosine = np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1.0),
                      np.where(both_zero, 1.0, 0.0))
    return {"top1_agreement": float(np.mean(_argmax(a) == _argmax(b))),
            "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "cosine": float(cosine.mean()), "count": int(a.shape[0])}


def score(metric: str, y_true: np.ndarray, y_pred: np.ndarray, classes: int = 0) -> float:
    """``accuracy``, ``f1`` (binary for two classes, else macro), ``f1_macro`` or
    ``matthews`` of integer predictions, computed as scikit-learn does."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    if metric == "accuracy":
        return float(np.mean(y_true == y_pred))
    size = max(classes, int(y_true.max()) + 1, int(y_pred.max()) + 1)
    confusion = np.zeros((size, size), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    if metric == "matthews":
        return _matthews(confusion)
    per_class = _f1_per_class(confusion)
    if metric == "f1" and size <= 2:
        return float(per_class[1]) if size == 2 else 0.0
    present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    return float(per_class[present].mean())


# --- metrics -----------------------------------------------------------------------------


def _f1_per_class(confusion: np.ndarray) -> np.ndarray:
    tp = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)  # 2tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 0.0)


def _matthews(confusion: np.ndarray) -> float:
    c = confusion.astype(np.float64)
    t, p = c.sum(axis=1), c.sum(axis=0)
    s, correct = c.sum(), np.trace(c)
    denominator = np.sqrt((s * s - p @ p) * (s * s - t @ t))
    return float((correct * s - t @ p) / denominator) if denominator > 0 else 0.0


def _argmax(logits: np.ndarray) -> np.ndarray:
    """Class per row; a single output column is read as a binary logit (> 0 means class 1)."""
    flat = logits.reshape(logits.shape[0], -1)
    if flat.shape[1] == 1:
        return (flat[:, 0] > 0).astype(np.int64)
    return flat.argmax(axis=1).astype(np.int64)


def _classes(logits: np.ndarray) -> int:
    width = int(np.prod(logits.shape[1:])) if logits.ndim > 1 else 1
    return 2 if width == 1 else width


def _check_labels(labels: np.ndarray, classes: int) -> None:
    if labels.dtype == np.bool_:
        labels = labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
            return _check_labels(labels.astype(np.int64), classes)
        raise CpuperfUsageError(
            f"labels must be integer class indices, got dtype {labels.dtype}")
    bad = labels[(labels < 0) | (labels >= classes)]
    if bad.size:
        raise CpuperfUsageError(
            f"labels must be class indices in [0, {classes}) for a model with {classes} "
            f"outputs; found {sorted(set(bad.ravel().tolist()))[:5]} (unlabelled test "
            f"splits, such as GLUE's, use -1: evaluate on the validation split)")


# --- reading datasets --------------------------------------------------------------------


def _batch_size(batch_size: int | None, compiled: Predictor) -> int:
    if batch_size is None:
        return max(1, int(getattr(compiled, "batch_size", 1) or 1))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise CpuperfUsageError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return batch_size


def _logits(model: Predictor, inputs: Arrays) -> np.ndarray:
    wanted = model.input_names()
    logits = np.asarray(model.predict({name: inputs[name] for name in wanted}))
    rows = next(iter(inputs.values())).shape[0]
    if logits.ndim == 0 or logits.shape[0] != rows:
        raise CpuperfUsageError(
            f"{getattr(model, 'label', 'the model')} returned outputs of shape {logits.shape} "
            f"for {rows} input rows; accuracy needs one row of logits per example")
    return logits


def _is_hf_dataset(data: object) -> bool:
    """A ``datasets.Dataset``, recognized without importing ``datasets``."""
    return (type(data).__module__.split(".")[0] == "datasets"
            and hasattr(data, "column_names") and hasattr(data, "with_format"))


def _check_keys(keys: Iterable[str], wanted: Sequence[tuple[str, ...]], *, labelled: bool,
                has_label: bool, ignore_unknown: bool = False) -> None:
    """Raise naming the missing and unknown keys; ``wanted`` holds each model's inputs."""
    keys = [k for k in keys if k not in LABEL_KEYS]
    needed = list(dict.fromkeys(name for names in wanted for name in names))
    missing = [n for n in needed if n not in keys]
    unknown = [] if ignore_unknown else sorted(set(keys) - set(needed))
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if unknown:
        problems.append(f"unknown {unknown}")
    if labelled and not has_label:
        problems.append("no 'label' (or 'labels') key")
    if problems:
        raise CpuperfUsageError(
            f"the dataset does not match the model inputs {needed}: {'; '.join(problems)}. "
            f"Give one array per model input" + (" plus 'label'" if labelled else ""))


def _label_key(keys: Iterable[str]) -> str | None:
    found = [k for k in LABEL_KEYS if k in keys]
    if len(found) > 1:
        raise CpuperfUsageError("the dataset has both 'label' and 'labels': keep one")
    return found[0] if found else None


def _blocks(data: object, wanted: Sequence[tuple[str, ...]], *, labelled: bool
            ) -> Iterator[Block]:
    """Check ``data`` against the models' inputs (eagerly) and return its blocks of rows."""
    if isinstance(data, (str, bytes)):
        raise CpuperfUsageError(f"a dataset must be a dict of arrays, an iterable of "
                                f"(inputs, label) pairs or a datasets.Dataset, got {data!r}")
    if isinstance(data, Mapping):
        return iter([_dict_block(data, wanted, labelled=labelled)])
    if _is_hf_dataset(data):
        return _hf_blocks(data, wanted, labelled=labelled)
    if isinstance(data, Iterable):
        return _iterable_blocks(data, wanted, labelled=labelled)
    raise CpuperfUsageError(
        f"a dataset must be a dict of arrays, an iterable of (inputs, label) pairs or a "
        f"datasets.Dataset, got {type(data).__name__}")


def _dict_block(data: Mapping[str, Any], wanted: Sequence[tuple[str, ...]], *,
                labelled: bool) -> Block:
    label_key = _label_key(data)
    _check_keys(data, wanted, labelled=labelled, has_label=label_key is not None)
    arrays = {k: np.asarray(v) for k, v in data.items() if k not in LABEL_KEYS}
    label = np.asarray(data[label_key]).reshape(-1) if label_key and labelled else None
    return _checked_block(arrays, label)


def _checked_block(arrays: Arrays, label: np.ndarray | None) -> Block:
    rows = {k: (v.shape[0] if v.ndim else None) for k, v in arrays.items()}
    if label is not None:
        rows["label"] = label.shape[0]
    if None in rows.values() or len(set(rows.values())) > 1:
        raise CpuperfUsageError(
            f"every dataset array needs the same number of rows (first axis): {rows}")
    return arrays, label


def _hf_blocks(data: Any, wanted: Sequence[tuple[str, ...]], *, labelled: bool
               ) -> Iterator[Block]:
    columns = list(data.column_names)
    label_key = _label_key(columns)
    _check_keys(columns, wanted, labelled=labelled, has_label=label_key is not None,
                ignore_unknown=True)
    needed = list(dict.fromkeys(n for names in wanted for n in names))
    take = needed + ([label_key] if label_key and labelled else [])
    view = data.with_format("numpy", columns=take)

    def generate() -> Iterator[Block]:
        for start in range(0, len(view), DATASET_CHUNK):
            chunk = view[start:start + DATASET_CHUNK]
            arrays = {n: np.asarray(chunk[n]) for n in needed}
            yield _checked_block(arrays, np.asarray(chunk[label_key]).reshape(-1)
                                 if label_key and labelled else None)

    return generate()


def _iterable_blocks(data: Iterable[Any], wanted: Sequence[tuple[str, ...]], *,
                     labelled: bool) -> Iterator[Block]:
    items = iter(data)
    first = next(items, None)
    if first is None:
        return iter([])
    block = _item_block(first, wanted, labelled=labelled)  # checks keys before anything runs
    return chain([block], (_item_block(item, wanted, labelled=labelled) for item in items))


def _item_block(item: Any, wanted: Sequence[tuple[str, ...]], *, labelled: bool) -> Block:
    if isinstance(item, Mapping) and not labelled:
        inputs, label = item, None
    elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Mapping):
        inputs, label = item
        if label is None and labelled:
            raise CpuperfUsageError(
                "a dataset item is an (inputs, None) pair: accuracy needs a class index as the "
                "label of every example (use agreement() for unlabelled inputs)")
    else:
        raise CpuperfUsageError(
            "each dataset item must be an (inputs, label) pair with inputs a dict of arrays"
            + ("" if labelled else " (or just the dict)")
            + f", got {type(item).__name__}")
    _check_keys(inputs, wanted, labelled=False, has_label=False)
    if label is None:  # one example when every array lacks a batch axis, else a batch
        arrays = {k: np.asarray(v) for k, v in inputs.items() if k not in LABEL_KEYS}
        if all(a.ndim <= 1 for a in arrays.values()):
            arrays = {k: a[None, ...] for k, a in arrays.items()}
        return _checked_block(arrays, None)
    labels = np.atleast_1d(np.asarray(label)).reshape(-1)
    arrays = {k: _as_rows(np.asarray(v), labels.size) for k, v in inputs.items()
              if k not in LABEL_KEYS}
    return _checked_block(arrays, labels if labelled else None)


def _as_rows(array: np.ndarray, rows: int) -> np.ndarray:
    """One example without a batch axis gets one; a batch of ``rows`` is kept as is."""
    if rows == 1 and (array.ndim <= 1 or array.shape[0] != 1):
        return array[None, ...]
    return array


def _rebatch(blocks: Iterable[Block], size: int) -> Iterator[Block]:
    """Regroup blocks of any row count into batches of ``size`` rows (the last may be short)."""
    pending: list[Block] = []
    count = 0
    for arrays, label in blocks:
        pending.append((arrays, label))
        count += next(iter(arrays.values())).shape[0] if arrays else 0
        while count >= size:
            merged = _concat(pending)
            yield _slice(merged, 0, size)
            rest = _slice(merged, size, count)
            count -= size
            pending = [rest] if count else []
    if count:
        yield _concat(pending)


def _concat(blocks: list[Block]) -> Block:
    if len(blocks) == 1:
        return blocks[0]
    keys = list(blocks[0][0])
    try:
        arrays = {k: np.concatenate([b[0][k] for b in blocks]) for k in keys}
    except (ValueError, KeyError) as exc:
        raise CpuperfUsageError(
            f"dataset rows cannot be batched together ({exc}); pad every example to the same "
            f"sequence length, or pass batch_size=1") from exc
    labels = [b[1] for b in blocks if b[1] is not None]
    return arrays, (np.concatenate(labels) if labels else None)


def _slice(block: Block, start: int, stop: int) -> Block:
    arrays, label = block
    return ({k: v[start:stop] for k, v in arrays.items()},
            None if label is None else label[start:stop])
