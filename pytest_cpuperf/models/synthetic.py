"""A small, learnable text-classification task and a tiny BERT trained on it, without any hub.

The task is "sentiment by counting": token ids ``[FIRST_WORD, FIRST_WORD + words)`` are positive
words, the next ``words`` ids are negative words, every other id above them is neutral filler.
A sentence is ``[CLS] tokens... [SEP]`` followed by real padding (attention mask 0); it holds a
few sentiment words among the filler and its label is 1 when positive words outnumber negative
ones (ties are never generated). A 2-layer BERT learns it in a few seconds on two cores, and
the task is hard enough (differences of one word) that a damaged model loses accuracy visibly.

:func:`trained_ir` exports the trained model to OpenVINO IR, optionally magnitude-pruned after
training (no fine-tuning) and quantized to INT8 on calibration data from the same task; results
are cached on disk like :func:`pytest_cpuperf.models.bert.build_ir`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import cache_dir, content_key, lookup, store
from ..errors import CpuperfUsageError
from ..progress import Progress
from .bert import (
    IR_FILES,
    BertSpec,
    _library_versions,
    announce_rebuild,
    build_torch_bert,
    quantize_int8,
    sparsify_,
    torch_to_ov,
)
from .bert import RECIPE_VERSION as EXPORT_RECIPE

RECIPE_VERSION = 1
"""Bump when the task, the training or the export recipe changes (invalidates the cache)."""

PAD, CLS, SEP = 0, 1, 2
FIRST_WORD = 8
"""First id of the positive words; ids 3..7 are unused special tokens."""



@dataclass(frozen=True)
class TaskSpec:
    """Shape of the synthetic task: how many sentiment words exist and how many a sentence has."""

    words: int = 24
    """Distinct positive words (and as many negative ones)."""
    max_sentiment: int = 7
    """Most sentiment words in one sentence (at least one)."""
    min_length: int = 8
    """Shortest sentence, in tokens between [CLS] and [SEP]."""
    max_length: int = 30
    """Longest sentence (capped at ``seq_len - 2``); the rest of the row is padding."""

    def check(self, spec: BertSpec) -> None:
        """Raise :class:`CpuperfUsageError` when ``spec`` cannot hold this task."""
        if spec.vocab < FIRST_WORD + 2 * self.words + 8:
            raise CpuperfUsageError(
                f"BertSpec.vocab ({spec.vocab}) is too small for the synthetic task: it needs "
                f"at least {FIRST_WORD + 2 * self.words + 8} token ids")
        if not self.max_sentiment <= self.min_length <= self.max_length:
            raise CpuperfUsageError("TaskSpec needs max_sentiment <= min_length <= max_length")
        if spec.seq_len - 2 < self.min_length:
            raise CpuperfUsageError(
                f"BertSpec.seq_len ({spec.seq_len}) is too short for the synthetic task")
        if spec.num_labels != 2:
            raise CpuperfUsageError("the synthetic task is binary: BertSpec.num_labels must be 2")


def make_dataset(n: int, spec: BertSpec | None = None, seed: int = 0,
                 task: TaskSpec | None = None) -> dict[str, np.ndarray]:
    """``n`` labelled sentences: ``input_ids``, ``attention_mask``, ``token_type_ids`` (all
    ``[n, seq_len]`` int64) and ``label`` (``[n]`` int64), roughly balanced."""
    spec = spec or BertSpec.tiny()
    task = task or TaskSpec()
    task.check(spec)
    rng = np.random.default_rng(seed)
    seq = spec.seq_len
    ids = np.full((n, seq), PAD, dtype=np.int64)
    mask = np.zeros((n, seq), dtype=np.int64)
    labels = np.zeros(n, dtype=np.int64)
    filler_low = FIRST_WORD + 2 * task.words
    longest = min(task.max_length, seq - 2)
    for row in range(n):
        length = int(rng.integers(task.min_length, longest + 1))  # tokens between CLS and SEP
        positive, negative = _sentiment_counts(rng, task.max_sentiment)
        body = rng.integers(filler_low, spec.vocab, size=length)
        slots = rng.choice(length, size=positive + negative, replace=False)
        body[slots[:positive]] = FIRST_WORD + rng.integers(0, task.words, size=positive)
        body[slots[positive:]] = FIRST_WORD + task.words + rng.integers(0, task.words,
                                                                         size=negative)
        ids[row, 0] = CLS
        ids[row, 1:length + 1] = body
        ids[row, length + 1] = SEP
        mask[row, :length + 2] = 1
        labels[row] = int(positive > negative)
    return {"input_ids": ids, "attention_mask": mask,
            "token_type_ids": np.zeros((n, seq), dtype=np.int64), "label": labels}


def _sentiment_counts(rng: np.random.Generator, most: int) -> tuple[int, int]:
    """(positive, negative) word counts, never equal, total between 1 and ``most``."""
    while True:
        total = int(rng.integers(1, most + 1))
        positive = int(rng.integers(0, total + 1))
        if 2 * positive != total:
            return positive, total - positive


def inputs_only(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model inputs of a dataset made by :func:`make_dataset` (its label dropped)."""
    return {k: v for k, v in data.items() if k not in ("label", "labels")}


# --- training ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSpec:
    """How the tiny classifier is trained."""

    steps: int = 200
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 20
    train_size: int = 8192
    seed: int = 0
    threads: int = 1
    """Torch threads while training: one thread is steadier than two on a shared 2-core VM."""


def train_tiny_classifier(spec: BertSpec | None = None, train: TrainSpec | None = None,
                          task: TaskSpec | None = None, progress: Progress | None = None) -> Any:
    """A ``BertForSequenceClassification`` trained on the synthetic task, in eval mode."""
    import torch


    spec = spec or BertSpec.tiny()
    train = train or TrainSpec()
    say = progress or (lambda _msg: None)
    data = make_dataset(train.train_size, spec, seed=10_000 + train.seed, task=task)
    tensors = {k: torch.from_numpy(v) for k, v in data.items()}
    model = build_torch_bert(spec).train()
    generator = torch.Generator().manual_seed(train.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(train.threads)
    try:
        _train_loop(model, tensors, train, say, generator)
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def _train_loop(model: Any, tensors: dict[str, Any], train: TrainSpec, say: Progress,
                generator: Any) -> None:
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr,
                                  weight_decay=train.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / train.warmup)
        * max(0.0, 1.0 - step / train.steps))
    begin = time.perf_counter()
    for step in range(train.steps):
        rows = torch.randint(0, train.train_size, (train.batch,), generator=generator)
        width = int(tensors["attention_mask"][rows].sum(1).max())  # drop all-padding columns
        batch = {k: v[rows, :width] for k, v in tensors.items() if k != "label"}
        loss = torch.nn.functional.cross_entropy(model(**batch).logits, tensors["label"][rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 50 == 0:
            say(f"step {step + 1}/{train.steps}: loss {loss.item():.3f} "
                f"({time.perf_counter() - begin:.1f} s)")


def torch_accuracy(model: Any, data: dict[str, np.ndarray], batch: int = 256) -> float:
    """Accuracy of a torch classifier on a dataset from :func:`make_dataset` (eager, FP32)."""
    import torch

    correct = 0
    with torch.no_grad():
        for start in range(0, len(data["label"]), batch):
            chunk = {k: torch.from_numpy(v[start:start + batch])
                     for k, v in inputs_only(data).items()}
            predicted = model(**chunk).logits.argmax(-1).numpy()
            correct += int((predicted == data["label"][start:start + batch]).sum())
    return correct / len(data["label"])


# --- cached artifacts ----------------------------------------------------------------------


def _key(kind: str, **parts: Any) -> str:

    return content_key({"kind": kind, "recipe": RECIPE_VERSION,
                        "versions": _library_versions(), **parts})


def trained_weights(spec: BertSpec | None = None, train: TrainSpec | None = None,
                    task: TaskSpec | None = None, progress: Progress | None = None) -> Path:
    """Path of the trained model's ``state_dict`` (trained once, cached on disk)."""
    import torch

    spec = spec or BertSpec.tiny()
    train = train or TrainSpec()
    task = task or TaskSpec()
    key = _key("weights", spec=asdict(spec), train=asdict(train), task=asdict(task))
    target = cache_dir() / "models" / f"synthetic-l{spec.layers}-h{spec.hidden}-weights-{key}"
    path = target / "model.pt"
    state = lookup(target, ("model.pt",))
    if state is None:
        return path
    say = progress or (lambda _msg: None)
    announce_rebuild(say, target, state)
    say(f"training a tiny BERT on the synthetic task ({key})")
    model = train_tiny_classifier(spec, train, task, progress)
    store(target, lambda folder: torch.save(model.state_dict(), folder / "model.pt"),
          ("model.pt",))
    return path


def load_trained(spec: BertSpec | None = None, train: TrainSpec | None = None,
                 task: TaskSpec | None = None, progress: Progress | None = None) -> Any:
    """The trained torch classifier (from the cache, training it first if needed)."""
    import torch


    spec = spec or BertSpec.tiny()
    model = build_torch_bert(spec)
    state = torch.load(trained_weights(spec, train, task, progress), weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def calibration_batches(spec: BertSpec, samples: int, seed: int = 20_000,
                        task: TaskSpec | None = None) -> list[dict[str, np.ndarray]]:
    """``samples`` batch-1 input dicts from the synthetic task, for NNCF calibration."""
    data = inputs_only(make_dataset(samples, spec, seed=seed, task=task))
    return [{k: v[i:i + 1] for k, v in data.items()} for i in range(samples)]


def trained_ir(spec: BertSpec | None = None, *, sparsity: float = 0.0, int8: bool = True,
               calibration_samples: int = 64, train: TrainSpec | None = None,
               task: TaskSpec | None = None, progress: Progress | None = None) -> Path:
    """Path of the IR (``model.xml``) of the trained classifier, magnitude-pruned to
    ``sparsity`` after training (no fine-tuning) and INT8-quantized if asked (batch 1).

    Cached under :func:`~pytest_cpuperf.cache.cache_dir`, keyed by every argument, the recipe
    version and the library versions; built in a staging folder, renamed into place and
    verified against its manifest before reuse.
    """

    spec = spec or BertSpec.tiny()
    train = train or TrainSpec()
    task = task or TaskSpec()
    key = _key("ir", spec=asdict(spec), train=asdict(train), task=asdict(task),
               sparsity=sparsity, int8=int8, calibration_samples=calibration_samples,
               export_recipe=EXPORT_RECIPE)
    name = (f"synthetic-l{spec.layers}-h{spec.hidden}-sp{round(sparsity * 100)}-"
            f"{'int8' if int8 else 'fp32'}-{key}")
    target = cache_dir() / "models" / name
    xml = target / "model.xml"
    state = lookup(target, IR_FILES)
    if state is None:
        return xml
    import openvino as ov

    say = progress or (lambda _msg: None)
    announce_rebuild(say, target, state)
    model = load_trained(spec, train, task, progress)
    achieved = sparsify_(model, sparsity) if sparsity else 0.0
    say(f"exporting {name} ({achieved:.1%} encoder sparsity)")
    ov_model = torch_to_ov(model, spec)
    if int8:
        say(f"quantizing {name} to INT8 ({calibration_samples} calibration sentences)")
        ov_model = quantize_int8(ov_model, spec,
                                 calibration=calibration_batches(spec, calibration_samples,
                                                                 task=task))
    build = {"spec": asdict(spec), "train": asdict(train), "task": asdict(task),
             "sparsity": sparsity, "achieved_sparsity": achieved, "int8": int8,
             "calibration_samples": calibration_samples, "recipe": RECIPE_VERSION}

    def write(folder: Path) -> None:
        ov.save_model(ov_model, str(folder / "model.xml"))
        (folder / "build.json").write_text(json.dumps(build, indent=2))

    store(target, write, IR_FILES)
    return xml
