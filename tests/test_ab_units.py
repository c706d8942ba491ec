"""``cpuperf ab`` pieces in-process: the engine's trial-driver seam and the paired verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytest_cpuperf.ab.verdict import (
    AbPolicy,
    joined,
    judge_pair,
    judge_pairs,
    judge_test,
    needs_another_pair,
)
from pytest_cpuperf.measure import engine
from pytest_cpuperf.records.results import MetricRecord
from pytest_cpuperf.stats.intervals import pooled_ratio


def test_a_trial_driver_decides_how_many_rounds_run(tiny_int8_ir: Path) -> None:
    """The seam: the active driver, not ``settings.trials``, sets the rounds."""
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    asked: list[int] = []
    told: list[list[str]] = []

    class ThreeRounds:
        def another_round(self, labels: Sequence[str], done: Sequence[Sequence[object]],
                          backends: Sequence[str]) -> bool:
            asked.append(len(done[0]))
            told.append(list(backends))
            return len(done[0]) < 3

    compiled = compile_model(tiny_int8_ir, check_options())
    token = engine.TRIAL_DRIVER.set(ThreeRounds())
    try:
        measured = engine.measure(compiled, settings=engine.EngineSettings(
            trials=7, trial_time_s=0.05, warmup_s=0.0))
    finally:
        engine.TRIAL_DRIVER.reset(token)
    assert len(measured.trials) == 3
    assert asked == [0, 1, 2, 3]
    assert told == [["openvino"]] * 4  # the coordinator's settle pause depends on it
    without = engine.measure(compiled, settings=engine.EngineSettings(
        trials=2, trial_time_s=0.05, warmup_s=0.0))
    assert len(without.trials) == 2  # no driver: the settings, as before


def throughput(samples: list[float], sparse: int = 0) -> MetricRecord:
    kernels = {"exec_types": {}, "matmul_layers": 56, "sparse_layers": sparse,
               "amx_layers": 56, "dominant_isa": "amx"}
    return MetricRecord(test_id="t.py::test", metric="throughput", kind="throughput",
                        unit="samples/s", value=sorted(samples)[len(samples) // 2],
                        samples=samples, kernels=kernels)


BASE = [100.0, 104.0, 98.0, 101.0, 103.0, 99.0, 102.0, 100.0]
"""Base throughput per round; head is derived from it round by round (the pairing)."""


def test_pairs_of_workers_join_into_samples_over_time() -> None:
    """Joined figures weigh each pair of workers by its trials (all of one length), so the
    value is samples over time, not the median trial."""
    from dataclasses import replace

    first = replace(throughput([100.0, 100.0, 40.0]), value=80.0)
    second = replace(throughput([90.0]), value=90.0)
    both = joined([first, second])
    assert both.samples == [100.0, 100.0, 40.0, 90.0]
    assert both.value == 82.5  # (3 x 80 + 1 x 90) / 4; the median trial reads 95
    assert both.extra["worker_pairs"] == [3, 1]


def test_a_consistent_loss_beyond_tolerance_is_a_regression() -> None:
    head = [b * 0.96 * (1.002 if i % 2 else 0.998) for i, b in enumerate(BASE)]
    result = judge_pair(throughput(BASE, sparse=55), throughput(head), AbPolicy())
    assert result.status.value == "regression"
    assert result.ci is not None and result.ci[1] < 0
    assert "kernels differ: base: 55/56 FC sparse, AMX, isa=amx; head: 0/56" in result.message


def test_the_same_figures_are_no_regression_and_noise_is_inconclusive() -> None:
    # one pair of workers: the offset between two processes (1%, the process floor) alone
    # keeps the 95% CI from ruling out a 1.5% loss; the pass says what it does rule out
    one = judge_pair(throughput(BASE), throughput(list(BASE)), AbPolicy())
    assert one.status.value == "pass" and one.rules_out is not None
    assert one.rules_out > AbPolicy().tolerance
    assert "rules out a regression above 1.9% (95% CI)" in one.message
    # two pairs rule out the tolerance itself
    same = judge_pairs([(throughput(BASE), throughput(list(BASE)))] * 2, AbPolicy())
    assert same.status.value == "pass"
    assert same.rules_out is not None and same.rules_out <= AbPolicy().tolerance
    assert "rules out a regression above 1.4% (95% CI)" in same.message
    noisy = [b * f for b, f in zip(BASE, [0.80, 1.15, 0.85, 1.1, 0.9, 1.05, 0.83, 1.0],
                                    strict=True)]
    assert judge_pair(throughput(BASE), throughput(noisy), AbPolicy()).status.value \
        == "inconclusive"


def test_accuracy_is_compared_exactly_and_one_sided_metrics_are_named() -> None:
    def accuracy(value: float, metric: str = "accuracy") -> dict[str, object]:
        return MetricRecord(test_id="t.py::test", metric=metric, kind="accuracy", unit="",
                            value=value).to_dict()

    results, notes = judge_test([([accuracy(0.91), accuracy(0.5, "gone")],
                                  [accuracy(0.90), accuracy(0.7, "new")])], AbPolicy())
    by_metric = {r.metric: r for r in results}
    assert by_metric["accuracy"].status.value == "regression"  # -0.01 > 0.005 tolerance
    assert by_metric["new"].status.value == "no baseline"
    assert any("gone" in n and "base only" in n for n in notes)


def test_two_serving_paths_under_one_test_id_are_named_with_their_versions() -> None:
    """Two environments (IPEX on base, stock torch.compile on head): every verdict names both
    sides' models, and the versions say what head lacks as well as what changed."""
    from dataclasses import replace

    base = replace(throughput(BASE), extra={"label": "ipex-jit-int8"},
                   versions={"torch": "2.8.0", "intel_extension_for_pytorch": "2.8.0"})
    head = replace(throughput(list(BASE)), extra={"label": "torch-compile-int8"},
                   versions={"torch": "2.13.0", "torchao": "0.18.0"})
    result = judge_pair(base, head, AbPolicy())
    assert "; models: base ipex-jit-int8, head torch-compile-int8" in result.message
    assert ("versions: torch 2.8.0 -> 2.13.0, torchao ? -> 0.18.0, "
            "intel_extension_for_pytorch 2.8.0 -> none") in result.message
    agreement = [MetricRecord(test_id="t.py::test", metric="agreement/top1_agreement",
                              kind="agreement", unit="", value=1.0,
                              extra={"candidate": label, "reference": "fp32-eager"})
                 for label in ("ipex-jit-int8", "torch-compile-int8")]
    assert "models: base ipex-jit-int8, head torch-compile-int8" in judge_pair(
        *agreement, AbPolicy()).message
    same = judge_pair(throughput(BASE), throughput(list(BASE)), AbPolicy())
    assert "models:" not in same.message and "versions:" not in same.message


def test_a_round_a_burst_of_other_work_hit_on_one_side_is_left_out() -> None:
    base, head = throughput(BASE), throughput([b * 0.99 for b in BASE])
    base.contention, head.contention = [1.0] * 8, [1.0] * 8
    head.samples[3], head.contention[3] = 5.0, 7.0  # starved: a noisy neighbour's burst
    result = judge_pair(base, head, AbPolicy(process_floor=0.0))  # the rounds' CI alone
    assert result.status.value == "pass"
    assert "1 round(s) left out" in result.message


def test_the_worker_plugin_refuses_a_session_not_started_by_cpuperf_ab(pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "pytest_cpuperf.ab.worker_plugin")
    assert result.ret == 4  # a usage error, before any test runs
    result.stderr.fnmatch_lines(["*runs under `cpuperf ab` only*"])


def test_every_renderer_labels_an_ab_run_base_and_head_and_a_gate_run_baseline_current(
        ) -> None:
    from pytest_cpuperf.records.results import RunReport
    from pytest_cpuperf.report import renderer_named
    from pytest_cpuperf.report.terminal import run_summary_lines

    result = judge_pair(throughput(BASE), throughput(list(BASE)), AbPolicy())
    side = {"commit": "abc1234def", "cwd": "src", "python_version": "3.11.7", "python": "py",
            "versions": {"openvino": "2026.4.1"}}
    ab = RunReport(machine={"ab": {"sides": {"base": side, "head": side}, "rounds": 20,
                                   "tolerance": 0.015}}, results=[result])
    gate = RunReport(machine={}, results=[result])
    # a JSON report read back (what ``cpuperf merge`` joins) keeps the framing
    ab_again = RunReport.from_dict(__import__("json").loads(renderer_named("json").render(ab)))
    for run, (ref, cur), other in ((ab, ("base", "head"), "baseline"),
                                   (ab_again, ("base", "head"), "baseline"),
                                   (gate, ("baseline", "current"), "head")):
        markdown = renderer_named("markdown").render(run)
        html = renderer_named("html").render(run)
        terminal = "\n".join(run_summary_lines(run))
        assert f"| {ref} | {cur} |" in markdown
        assert f"<th>{ref}</th><th>{cur}</th>" in html
        header = next(line for line in terminal.splitlines() if line.startswith("test "))
        assert header.split()[2:4] == [ref, cur]
        assert f"| {other} |" not in markdown and f"<th>{other}</th>" not in html
    assert "**base:** abc1234def in src" in renderer_named("markdown").render(ab)
    # the paired verdict's interval is 95% (1 - alpha, two-sided), and every renderer says so
    assert result.ci_level == 0.95
    assert "95% CI" in renderer_named("markdown").render(ab)
    assert "95% CI" in "\n".join(run_summary_lines(ab))
    assert "90% CI" not in renderer_named("markdown").render(ab)
    assert "cpuperf ab:" in renderer_named("markdown").render(ab)


def test_one_pair_of_workers_is_the_paired_test_widened_by_the_process_floor() -> None:
    from pytest_cpuperf.stats.intervals import paired_ratio

    slower = [b * 0.96 * (1.002 if i % 2 else 0.998) for i, b in enumerate(BASE)]
    plain = paired_ratio(slower, BASE)
    assert pooled_ratio([(slower, BASE)], 0.0) == plain
    floored = pooled_ratio([(slower, BASE)], 0.01)
    assert floored.ratio == plain.ratio and floored.pairs == len(BASE)
    assert floored.low < plain.low and floored.high > plain.high


def test_a_verdict_of_several_pairs_of_workers_counts_the_spread_between_them() -> None:
    slower = [b * 0.96 * (1.002 if i % 2 else 0.998) for i, b in enumerate(BASE)]
    same = [b * (1.002 if i % 2 else 0.998) for i, b in enumerate(BASE)]
    first = judge_pair(throughput(BASE), throughput(slower), AbPolicy())
    assert first.status.value == "regression"
    assert needs_another_pair([first]) == "throughput: regression"
    # a fresh pair reads the same loss: it stands, on twice the rounds, with a narrower CI
    agree = judge_pairs([(throughput(BASE), throughput(slower)),
                         (throughput(list(BASE)), throughput(list(slower)))], AbPolicy())
    assert agree.status.value == "regression"
    assert agree.ci is not None and first.ci is not None
    assert agree.ci[1] - agree.ci[0] < first.ci[1] - first.ci[0]
    assert "measured by 2 pairs of worker processes (head/base x0.960, x0.960; the spread" \
        in agree.message
    assert len(agree.record.samples) == 2 * len(BASE)
    assert agree.record.extra["worker_pairs"] == [len(BASE), len(BASE)]
    # a fresh pair reads no loss: one process was off as a whole; the spread between the pairs
    # is wider than their rounds explain, so the CI covers no change
    disagree = judge_pairs([(throughput(BASE), throughput(slower)),
                            (throughput(list(BASE)), throughput(same))], AbPolicy())
    assert disagree.status.value == "inconclusive"
    assert disagree.ci is not None and disagree.ci[0] < 0 < disagree.ci[1]
    assert needs_another_pair([disagree]) == "throughput: inconclusive"
    passed = judge_pairs([(throughput(BASE), throughput(list(BASE)))] * 2, AbPolicy())
    assert needs_another_pair([passed]) is None  # a pass needs no further pair
    faster = judge_pair(throughput(slower), throughput(BASE), AbPolicy())
    assert needs_another_pair([faster]) == "throughput: improvement"


def test_an_effect_of_going_first_cancels_between_pairs_in_opposite_orders() -> None:
    # A/A where the side that went first reads 5% slower: base first reads head x1.05, head
    # first x0.95; each pair's rounds scatter little, so the pairs disagree beyond them
    jitter = [1.002 if i % 2 else 0.998 for i in range(len(BASE))]
    ahead = [b * 1.05 * j for b, j in zip(BASE, jitter, strict=True)]
    behind = [b / 1.05 * j for b, j in zip(BASE, jitter, strict=True)]
    one_each = pooled_ratio([(ahead, BASE), (behind, BASE)], 0.01, orders=["base", "head"])
    assert abs(one_each.ratio - 1.0) < 1e-5  # the order's effect cancels
    # one pair of each order cannot tell the order's effect from a pair's offset: their
    # spread counts, as without orders
    assert one_each == pooled_ratio([(ahead, BASE), (behind, BASE)], 0.01)
    assert one_each.high - one_each.low > 0.1
    # two pairs of each order show it is the order's: a fixed effect, only the floor remains
    four = [(ahead, BASE), (behind, BASE), (list(ahead), BASE), (list(behind), BASE)]
    fixed = pooled_ratio(four, 0.01, orders=["base", "head", "base", "head"])
    assert abs(fixed.ratio - 1.0) < 1e-5
    assert fixed.high - fixed.low < 0.03 and fixed.low < 1.0 < fixed.high
    # unequal counts: the orders still weigh alike (not 2:1)
    three = pooled_ratio(four[:3], 0.01, orders=["base", "head", "base"])
    assert abs(three.ratio - 1.0) < 1e-5
    # the verdict names each pair's order and says the orders weigh alike
    verdict = judge_pairs([(throughput(BASE), throughput(ahead)),
                           (throughput(list(BASE)), throughput(behind))], AbPolicy(),
                          firsts=["base", "head"])
    assert verdict.status.value in ("pass", "inconclusive")
    assert "(head/base x1.050 base first, x0.952 head first; the two orders weigh alike" \
        in verdict.message


def test_the_rounds_are_split_between_the_pairs_and_alternate_pairs_reverse_the_order() -> None:
    from pytest_cpuperf.ab.coordinator import Plan, order_of

    assert [order_of(n)[0] for n in range(4)] == ["base", "head", "base", "head"]
    assert Plan(20, 0.3, pairs=2).rounds_per_pair == 10
    assert Plan(3, 0.3, pairs=2).rounds_per_pair == 2  # at least 2 a pair, for a CI
    assert Plan(None, 0.3, pairs=2).rounds_per_pair is None  # --rounds auto: per pair


def test_no_common_test_is_a_problem_naming_each_sides_ids_and_an_empty_shard_a_note() -> None:
    from pytest_cpuperf.ab.cli import compared_tests, in_shard

    def hello(base: list[str], head: list[str]) -> dict[str, dict[str, object]]:
        return {"base": {"tests": base, "rootdir": "/b"}, "head": {"tests": head,
                                                                  "rootdir": "/h/sub"}}

    tests, problem, note = compared_tests(hello(["sub/t.py::a"], ["t.py::a"]), None)
    assert tests == [] and note is None and problem is not None
    assert "base collected 1: sub/t.py::a (rootdir /b)" in problem
    assert "head collected 1: t.py::a (rootdir /h/sub)" in problem
    assert "run both sides from the same directory of each checkout" in problem
    _, problem, _ = compared_tests(hello([], []), None)
    assert problem is not None and "select tests marked @pytest.mark.cpuperf" in problem
    many = [f"t.py::test_{i}" for i in range(8)]
    _, problem, _ = compared_tests(hello(many, []), None)
    assert problem is not None and "base collected 8: t.py::test_0" in problem
    assert "and 3 more" in problem and "head collected 0 cpuperf tests" in problem
    # the tests both sides have all hash to other shards: this shard says so, and passes
    other = next(s for s in ((1, 2), (2, 2)) if not in_shard("t.py::a", s))
    tests, problem, note = compared_tests(hello(["t.py::a"], ["t.py::a"]), other)
    assert tests == [] and problem is None
    assert note is not None and "holds none of the 1 test(s) both sides have" in note
