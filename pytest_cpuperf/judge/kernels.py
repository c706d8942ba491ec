"""The kernel mix as a deterministic gate: ``@pytest.mark.cpuperf(kernels=...)``.

Two spellings:

* ``kernels="same"`` - the kernels that ran (per layer type: how many layers ran each exec
  type, plus the threads and streams they ran on) must equal the baseline's latest run; a
  change fails with a diff such as ``FullyConnected: 12 brgemm_avx512_amx_sparse_I8 -> 12
  brgemm_avx512_amx_I8``. No statistics: the mix is deterministic.
* ``kernels={"sparse_layers": ">=50", "amx_layers": ">=1", "dominant_isa": "amx"}`` - rules
  that need no baseline. Counts take ``">=N"``, ``"<=N"``, ``"==N"`` or a plain integer (exactly
  N); ``dominant_isa`` takes a name a kernel report can give (``amx``, ``avx512``, ``avx2``,
  ... see :attr:`KernelReport.ISAS`), or ``"!=NAME"``. Where the exec types name no ISA
  (``jit_gemm_I8`` on AVX2 machines) the report infers it from the CPU, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..kernel_spec import ISA_KEY, Rule, check_kernel_spec, rules_of
from ..records.results import MetricResult
from ..status import Status

EXECUTION_KEYS = ("threads", "streams")
"""What the kernels ran on, kept with the kernel record (a thread count changes no exec type)."""
GATED_KINDS = ("throughput",)
"""The metric the gate judges once per measurement (its latency twin carries the same kernels)."""
MAX_LAYER_TYPES = 8
"""Layer types listed in a diff before ``... and N more``."""


def with_execution(kernels: dict[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """``kernels`` with the threads and streams they ran on (from the effective config)."""
    threads = config.get("INFERENCE_NUM_THREADS", config.get("threads"))
    streams = config.get("NUM_STREAMS")
    found = dict(kernels)
    if threads is not None:
        found["threads"] = threads
    if streams is not None:
        found["streams"] = streams
    return found


def layer_mix(kernels: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """``exec_types`` (``"layer:exec" -> n``) as ``{layer type: {exec type: n}}``."""
    mix: dict[str, dict[str, int]] = {}
    for key, count in (kernels.get("exec_types") or {}).items():
        layer, _, kernel = str(key).partition(":")
        mix.setdefault(layer, {})[kernel or "?"] = int(count)
    return mix


def _counts(kernels: Mapping[str, int]) -> str:
    return " + ".join(f"{n} {k}" for k, n in sorted(kernels.items(), key=lambda kv: -kv[1])) \
        or "none"


def kernel_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Lines such as ``FullyConnected: 12 brgemm_avx512_amx_sparse_I8 -> 12
    brgemm_avx512_amx_I8`` and ``threads: 2 -> 1``; empty when the mix is the same."""
    old, new = layer_mix(before), layer_mix(after)
    lines = [f"{layer}: {_counts(old.get(layer, {}))} -> {_counts(new.get(layer, {}))}"
             for layer in sorted(old.keys() | new.keys()) if old.get(layer) != new.get(layer)]
    lines += [f"{key}: {before.get(key, '-')} -> {after.get(key, '-')}"
              for key in EXECUTION_KEYS if str(before.get(key)) != str(after.get(key))]
    return lines


def diff_text(lines: list[str]) -> str:
    shown = lines[:MAX_LAYER_TYPES]
    more = len(lines) - len(shown)
    return "; ".join(shown) + (f"; ... and {more} more" if more > 0 else "")


def gate(result: MetricResult, spec: object, *, other_machine: bool = False) -> MetricResult:
    """``result`` (a :class:`~pytest_cpuperf.records.results.MetricResult`) with the kernel gate
    applied: status ``kernels changed`` or ``kernel rule`` with the diff first in its message.
    The spec is kept in ``result.policy["kernels"]`` so ``cpuperf compare`` gates alike."""
    record = result.record
    if spec is None or record.kind not in GATED_KINDS or result.status is Status.INVALID:
        return result
    spec = check_kernel_spec(spec, "@pytest.mark.cpuperf(kernels=...)")
    if result.policy is not None:
        result.policy["kernels"] = spec if isinstance(spec, str) else dict(spec)
    name = f"{record.metric} of {record.test_id}"
    kernels = record.kernels
    if not isinstance(spec, str):
        broken = [r for r in rules_of(spec) if not kernels or not r.holds(kernels)]
        if broken:
            seen = ", ".join(_seen(r, kernels) for r in broken)
            _fail(result, Status.KERNEL_RULE,
                  f"{name}: kernel rule broken: {seen} (rule "
                  f"{', '.join(r.text() for r in broken)})")
        return result
    baseline = result.baseline
    if baseline is None or other_machine:
        return result
    before = baseline.latest.kernels
    if not before and not kernels:
        result.message += "; kernels=\"same\": this backend recorded no kernels, nothing to compare"
        return result
    if not before or "exec_types" not in before:
        note = f"{name}: no kernel record in the baseline; run --cpuperf-update"
        if result.status.fails:
            result.message += f"; {note}"
        else:
            result.status, result.message = Status.NO_BASELINE, f"{note}. {result.message}"
        return result
    lines = kernel_diff(before, kernels or {})
    if lines:
        _fail(result, Status.KERNELS_CHANGED,
              f"{name}: kernels changed since the baseline ({baseline.latest.date[:10]}): "
              f"{diff_text(lines)}")
    return result


def _seen(rule: Rule, kernels: Mapping[str, Any] | None) -> str:
    """``dominant_isa is avx2, inferred from the CPU (...)``: what the report holds."""
    found = f"{rule.key} is {(kernels or {}).get(rule.key, 'not recorded')}"
    inferred = (kernels or {}).get("isa_inferred") if rule.key == ISA_KEY else None
    return f"{found}, {inferred}" if inferred else found


def _fail(result: MetricResult, status: Status, reason: str) -> None:
    result.message = f"{reason}. Throughput: {result.message}"
    result.status = status
