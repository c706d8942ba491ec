"""Turns of interleaved measurements, and the pause a turn needs after another model's.

A shared VM's speed drifts over seconds (per-second sd 13%, lag-1 autocorrelation 0.65 on the
AMX Xeon VM), so two models of one process timed in turns of a second or more each see a
different moment; turns of :data:`TURN_S` put the drift on both sides of a pair
(docs/evidence/same-moment.md). A pause before a turn (``settle``) is needed only after a
model whose threads spin once a request ends: OpenMP's (PyTorch, IPEX) spin for up to ~200 ms;
OpenVINO's sleep.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

from .settings import EngineSettings

TURN_S = 0.25
"""Each side's turn in one process: the engine lengthens it to a few request rounds for a slow
model. (``cpuperf ab``'s sides, two processes, take turns of ``--turn``, 1 s by default: each
switch between processes costs the side that comes in.)"""
SPIN_FREE_BACKENDS = frozenset({"openvino"})
"""Backends whose threads do not spin after a request: no settle pause after their turns."""


def settle_after(backends: Iterable[str], settle_s: float) -> float:
    """The pause before the next turn after a turn of models of ``backends``: ``settle_s``
    unless every one of them is spin-free (an unknown backend gets the pause)."""
    named = set(backends)
    return 0.0 if named and named <= SPIN_FREE_BACKENDS else settle_s


def in_turns(settings: EngineSettings, backends: Iterable[str]) -> EngineSettings:
    """``settings`` for an interleaved measurement of models of ``backends``: the same
    measuring time per model, in turns of :data:`TURN_S`, with no settle pause between
    spin-free models."""
    if settings.trial_time_s <= TURN_S:
        return settings
    trials = math.ceil(settings.trials * settings.trial_time_s / TURN_S)
    return replace(settings, trials=trials, trial_time_s=TURN_S,
                   settle_s=settle_after(backends, settings.settle_s))
