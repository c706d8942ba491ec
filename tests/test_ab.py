"""``cpuperf ab``: two real sides (worker processes with tiny OpenVINO models), real verdicts.

Every run here is a real ``cpuperf ab`` subprocess starting two real pytest workers. The slower
side is a genuinely slower model (twice the layers) under the same test name; no timing is
asserted, only verdicts of same-run comparisons.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_cpuperf.ab.cli import in_shard
from pytest_cpuperf.store.fileio import run_lock

FAST = ["--cpuperf-trial-time", "0.2", "--cpuperf-warmup", "0.1"]
SIDE_TEST = '''
import os
import pytest

MODEL = {model!r}


@pytest.mark.cpuperf
def test_model(ov_compile, cpuperf):
    cpuperf.measure(ov_compile(MODEL))


def test_not_perf():
    pass
'''


def write_side(directory: Path, model: Path, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "conftest.py").write_text("")
    (directory / "test_side.py").write_text(SIDE_TEST.format(model=str(model)) + extra)
    return directory


def run_ab(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # TMPDIR: the base worktree and the worker logs a failed run keeps stay in the test's dir
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), TMPDIR=str(cwd))
    return subprocess.run([sys.executable, "-m", "pytest_cpuperf.cli", "ab", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def results_of(report: Path) -> dict[tuple[str, str], dict]:
    data = json.loads(report.read_text())
    return {(r["test_id"].split("::")[-1], r["metric"]): r for r in data["results"]}


@pytest.mark.slow
def test_slower_head_is_a_regression_and_reports_label_sides(
        tmp_path: Path, tiny_int8_ir: Path, slower_int8_ir: Path) -> None:
    base = write_side(tmp_path / "base", tiny_int8_ir)
    head = write_side(tmp_path / "head", slower_int8_ir, extra='''

@pytest.mark.cpuperf
def test_new_on_head(cpuperf):
    cpuperf.record("accuracy", 1.0)
''')
    out = run_ab("--base", str(base), "--head", str(head), "--rounds", "6", "--tolerance", "0.1",
                 "--report", "ab.json", "--report", "ab.md", "--report", "ab.html", "--",
                 *FAST, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    results = results_of(tmp_path / "ab.json")
    throughput = results[("test_model", "throughput")]
    assert throughput["status"] == "regression"
    assert throughput["ci"][1] < 0  # head/base - 1: the whole CI is below no change
    assert "kernels differ: base: 0/" in throughput["message"]  # 2 layers vs 8
    # two pairs of workers in opposite orders, then further fresh pairs for a verdict other
    # than a pass (up to --max-pairs, 4 by default), all judged together
    assert "measured by 4 pairs of worker processes (head/base x" in throughput["message"]
    assert "base first" in throughput["message"] and "head first" in throughput["message"]
    ab_info = json.loads((tmp_path / "ab.json").read_text())["machine"]["ab"]
    assert ab_info["worker_pairs"] == {"test_side.py::test_model": 4}
    assert ab_info["first_sides"] == {"test_side.py::test_model": ["base", "head"] * 2}
    assert "measured again by fresh pairs of workers" in out.stdout
    assert "test_side.py::test_model (4 pairs)" in out.stdout
    assert ("test_new_on_head", "accuracy") not in results  # one side only: not compared
    assert "only on head (1, not compared): test_side.py::test_new_on_head" in out.stdout
    markdown = (tmp_path / "ab.md").read_text()
    assert "| base | head |" in markdown
    assert "**base:** no git commit in" in markdown
    assert "<th>base</th><th>head</th>" in (tmp_path / "ab.html").read_text()


def test_same_model_on_both_sides_is_no_regression(tmp_path: Path, tiny_int8_ir: Path) -> None:
    base = write_side(tmp_path / "base", tiny_int8_ir)
    head = write_side(tmp_path / "head", tiny_int8_ir)
    out = run_ab("--base", str(base), "--head", str(head), "--rounds", "4", "--tolerance", "0.1",
                 "--report", "ab.json", "--", *FAST, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    results = results_of(tmp_path / "ab.json")
    # no false alarm; on a machine shared with other work a wide CI may say "inconclusive"
    assert results[("test_model", "throughput")]["status"] != "regression"
    # the 4 rounds split between 2 pairs of workers in opposite orders, plus one for each
    # round a burst of other work spoiled (at most 2 more a pair)
    throughput = results[("test_model", "throughput")]
    assert 4 <= len(throughput["current"]["samples"]) <= 8
    assert len(throughput["current"]["extra"]["worker_pairs"]) >= 2
    ab_info = json.loads((tmp_path / "ab.json").read_text())["machine"]["ab"]
    assert ab_info["pairs"] == 2
    assert ab_info["first_sides"]["test_side.py::test_model"][:2] == ["base", "head"]
    assert " base first, x" in throughput["message"] and " head first" in throughput["message"]
    assert "split between 2 pairs of workers in opposite orders" in out.stderr
    assert ("test_not_perf", "throughput") not in results


def test_a_side_whose_python_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    out = run_ab("--base-python", str(tmp_path / "nowhere" / "python"), cwd=tmp_path)
    assert out.returncode == 2
    assert "--base-python" in out.stderr and "no such interpreter" in out.stderr


def test_max_pairs_below_one_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    out = run_ab("--max-pairs", "0", cwd=tmp_path)
    assert out.returncode == 2
    assert "argument --max-pairs: must be an integer >= 1, e.g. 4" in out.stderr


def test_a_side_without_pytest_fails_fast_naming_it(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)  # a real environment without pytest-cpuperf
    write_side(tmp_path / "side", tmp_path / "unused.xml")
    with run_lock():  # another perf run measures: the missing install is said without waiting
        out = run_ab("--head", str(tmp_path / "side"), "--head-python",
                     str(bare / "bin" / "python"), cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "waiting for the machine-wide run lock" not in out.stderr
    assert "the head side did not start" in out.stderr
    # PYTHONPATH brings this checkout's pytest_cpuperf along; pytest itself is what lacks
    assert "pytest is not installed in the head environment" in out.stderr


@pytest.mark.slow
def test_a_worker_crash_is_an_error_of_that_side_and_the_rest_go_on(
        tmp_path: Path, tiny_int8_ir: Path) -> None:
    crash = '''

@pytest.mark.cpuperf
def test_a_crash(ov_compile, cpuperf):
    if os.path.basename(os.getcwd()) == "head":
        os.kill(os.getpid(), 9)
    cpuperf.measure(ov_compile(MODEL), name="crash")


@pytest.mark.cpuperf
def test_z_after(ov_compile, cpuperf):
    cpuperf.measure(ov_compile(MODEL), name="after")
'''
    base = write_side(tmp_path / "base", tiny_int8_ir, extra=crash)
    head = write_side(tmp_path / "head", tiny_int8_ir, extra=crash)
    out = run_ab("--base", str(base), "--head", str(head), "--rounds", "3", "--tolerance", "0.2",
                 "--report", "ab.json", "--", *FAST, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    data = json.loads((tmp_path / "ab.json").read_text())
    assert any("test_a_crash [head]: crashed" in e and "killed by signal 9" in e
               for e in data["errors"]), data["errors"]
    results = results_of(tmp_path / "ab.json")
    assert results[("test_z_after", "after/throughput")]["status"] != "regression"
    notes = data["machine"]["ab"]["notes"]
    assert any("measurement 1 ran on base only" in n for n in notes), notes
    assert any(n.startswith("crash/throughput of") and "recorded by base only" in n
               for n in notes), notes
    assert "restarting the head worker" in out.stderr


def test_ctrl_c_stops_both_workers_and_writes_the_partial_report(
        tmp_path: Path, tiny_int8_ir: Path) -> None:
    slow = '''

@pytest.mark.cpuperf
def test_slow(ov_compile, cpuperf):
    (Path(os.getcwd()) / "pid").write_text(str(os.getpid()))
    cpuperf.measure(ov_compile(MODEL), name="slow")
'''
    sides = [write_side(tmp_path / name, tiny_int8_ir, extra=slow) for name in ("base", "head")]
    for side in sides:
        text = (side / "test_side.py").read_text()
        (side / "test_side.py").write_text("from pathlib import Path\n" + text)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               TMPDIR=str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_cpuperf.cli", "ab", "--base", str(sides[0]), "--head",
         str(sides[1]), "--rounds", "1000", "--report", "ab.json", "--report", "ab.md",
         "--", *FAST, "-k", "test_slow"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = [side / "pid" for side in sides]
    try:
        wait_for(lambda: all(p.exists() for p in pids), process)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:  # a coordinator left running holds the machine-wide run lock: the next run waits
        if process.poll() is None:
            process.kill()
            process.communicate()
            for pid in pids:
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid.read_text()), signal.SIGKILL)
    assert process.returncode == 130, stdout + stderr
    data = json.loads((tmp_path / "ab.json").read_text())
    assert any("interrupted" in e and "partial" in e for e in data["errors"])
    assert "interrupted after 0 of 1 test(s)" in (tmp_path / "ab.md").read_text()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid.read_text()), 0)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the workers never reached the slow test"
        time.sleep(0.2)


def test_shards_split_the_tests_without_overlap() -> None:
    tests = [f"tests/test_{i}.py::test_{j}" for i in range(20) for j in range(5)]
    shards = [[t for t in tests if in_shard(t, (i, 3))] for i in (1, 2, 3)]
    assert sorted(t for shard in shards for t in shard) == sorted(tests)
    assert all(shards)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.slow
def test_base_ref_worktree_and_shards_merged(tmp_path: Path, tiny_int8_ir: Path,
                                             slower_int8_ir: Path) -> None:
    """A pull request: base = a worktree of the committed revision, head = the checkout with a
    slower model; two shards, joined by ``cpuperf merge``."""
    repo = tmp_path / "repo"
    second = '''

@pytest.mark.cpuperf
def test_second(ov_compile, cpuperf):
    cpuperf.measure(ov_compile(MODEL), name="second")
'''
    write_side(repo, tiny_int8_ir, extra=second)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    commit = git(repo, "rev-parse", "HEAD").strip()
    write_side(repo, slower_int8_ir, extra=second)  # the change under review, not committed
    reports = []
    for shard in ("1/2", "2/2"):
        report = tmp_path / f"shard{shard[0]}.json"
        out = run_ab("--head", str(repo), "--base-ref", "HEAD", "--rounds", "6", "--tolerance",
                     "0.1", "--shard", shard, "--report", str(report), "--", *FAST, cwd=tmp_path)
        assert out.returncode in (0, 1), out.stdout + out.stderr
        sides = json.loads(report.read_text())["machine"]["ab"]["sides"]
        assert sides["base"]["commit"] == commit
        assert sides["head"]["commit"] == commit + "+dirty"
        reports.append(str(report))
    assert git(repo, "worktree", "list").count("\n") == 1  # the base worktree is gone
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    merged = subprocess.run([sys.executable, "-m", "pytest_cpuperf.cli", "merge", "-o",
                             str(tmp_path / "all.json"), *reports], env=env, capture_output=True,
                            text=True)
    assert merged.returncode == 1, merged.stdout + merged.stderr  # the regression fails it
    results = results_of(tmp_path / "all.json")
    assert results[("test_model", "throughput")]["status"] == "regression"
    assert results[("test_second", "second/throughput")]["status"] == "regression"
    # each shard measured its own regression in fresh pairs; the merged report lists both
    ab_info = json.loads((tmp_path / "all.json").read_text())["machine"]["ab"]
    assert sorted(ab_info["worker_pairs"]) == ["test_side.py::test_model",
                                               "test_side.py::test_second"]


ENV_SIDE_TEST = '''
import os
import pytest

MODELS = {models!r}


@pytest.mark.cpuperf
def test_model(ov_compile, cpuperf):
    cpuperf.measure(ov_compile(MODELS[os.environ.get("MODEL_VARIANT", "fast")]))
'''


@pytest.mark.slow
def test_side_env_sets_a_variable_for_one_side_only(tmp_path: Path, tiny_int8_ir: Path,
                                                    slower_int8_ir: Path) -> None:
    """``--head-env NAME=VALUE``: one checkout, one environment, the head side's worker with a
    variable set (a configuration switch): the slower variant is caught, both sides shown."""
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "test_side.py").write_text(ENV_SIDE_TEST.format(
        models={"fast": str(tiny_int8_ir), "slow": str(slower_int8_ir)}))
    out = run_ab("--head-env", "MODEL_VARIANT=slow", "--rounds", "6", "--tolerance", "0.1",
                 "--max-pairs", "1", "--report", "ab.json", "--report", "ab.md", "--", *FAST,
                 cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert results_of(tmp_path / "ab.json")[("test_model", "throughput")]["status"] == \
        "regression"
    sides = json.loads((tmp_path / "ab.json").read_text())["machine"]["ab"]["sides"]
    assert sides["head"]["env"] == {"MODEL_VARIANT": "slow"} and "env" not in sides["base"]
    assert "with MODEL_VARIANT=slow in" in (tmp_path / "ab.md").read_text()


def test_side_env_refuses_what_is_not_an_assignment(tmp_path: Path) -> None:
    out = run_ab("--head-env", "MODEL_VARIANT", cwd=tmp_path)
    assert out.returncode == 2
    assert "'MODEL_VARIANT' is not NAME=VALUE" in out.stderr


def test_same_model_with_rounds_auto_stops_when_decided(tmp_path: Path,
                                                        tiny_int8_ir: Path) -> None:
    """An A/A run with ``--rounds auto`` (the default): the rule rules out a regression beyond
    the tolerance and stops before the budget runs out; the report says after how many
    rounds."""
    base = write_side(tmp_path / "base", tiny_int8_ir)
    head = write_side(tmp_path / "head", tiny_int8_ir)
    out = run_ab("--base", str(base), "--head", str(head), "--tolerance", "0.1", "--max-pairs",
                 "1", "--report", "ab.json", "--", *FAST, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads((tmp_path / "ab.json").read_text())
    throughput = results_of(tmp_path / "ab.json")[("test_model", "throughput")]
    assert throughput["status"] != "regression"
    assert "rounds: decided after" in throughput["message"]
    [note] = [n for n in data["machine"]["ab"]["notes"] if "test_model" in n]
    assert "decided after" in note and "(no regression beyond the tolerance)" in note
    looks = int(note.split("; ")[1].split(" look")[0])
    assert 0.95 < throughput["ci_level"] == pytest.approx(1 - 0.05 / looks)
    assert data["machine"]["ab"]["rounds"] == "auto"


@pytest.mark.slow
def test_a_slower_head_with_rounds_auto_is_a_regression(tmp_path: Path, tiny_int8_ir: Path,
                                                        slower_int8_ir: Path) -> None:
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "test_side.py").write_text(ENV_SIDE_TEST.format(
        models={"fast": str(tiny_int8_ir), "slow": str(slower_int8_ir)}))
    out = run_ab("--head-env", "MODEL_VARIANT=slow", "--rounds", "auto", "--tolerance", "0.1",
                 "--max-pairs", "1", "--report", "ab.json", "--", *FAST, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    throughput = results_of(tmp_path / "ab.json")[("test_model", "throughput")]
    assert throughput["status"] == "regression"
    assert "(a regression beyond the tolerance)" in throughput["message"]


def test_a_budget_too_small_to_decide_is_inconclusive_and_says_so(
        tmp_path: Path, tiny_int8_ir: Path) -> None:
    base = write_side(tmp_path / "base", tiny_int8_ir)
    head = write_side(tmp_path / "head", tiny_int8_ir)
    out = run_ab("--base", str(base), "--head", str(head), "--budget", "0.5", "--max-pairs",
                 "1", "--report", "ab.json", "--", *FAST, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr  # inconclusive does not fail the run
    throughput = results_of(tmp_path / "ab.json")[("test_model", "throughput")]
    assert "budget of 0.5 s ran out after 2 rounds" in throughput["message"]
    assert len(throughput["current"]["samples"]) == 2
    # Two rounds pass only when even their wide interval rules out a loss beyond the tolerance
    # (two compiles of one model can differ by 2%); else the verdict says it is undecided.
    if throughput["status"] == "pass":
        assert throughput["ci"][0] >= -throughput["tolerance"], throughput
    else:
        assert throughput["status"] == "inconclusive", throughput
        assert "undecided" in throughput["message"] or "cannot tell" in throughput["message"]


@pytest.mark.parametrize(("given", "said"), [
    (["--rounds", "0"], "argument --rounds: must be an integer >= 2, e.g. 20, or auto"),
    (["--rounds", "abc"], "argument --rounds: must be an integer >= 2, e.g. 20, or auto"),
    (["--budget", "-1"], "argument --budget: must be a number > 0, e.g. 120"),
])
def test_bad_rounds_and_budget_are_usage_errors_naming_the_option(
        tmp_path: Path, given: list[str], said: str) -> None:
    out = run_ab(*given, cwd=tmp_path)
    assert out.returncode == 2
    assert said in out.stderr
    assert "starting the" not in out.stderr  # before any worker starts


TORCH_SIDE_TEST = '''
import pytest


@pytest.mark.cpuperf
def test_model(torch_optimize, cpuperf):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU())
    cpuperf.measure(torch_optimize(model, example_inputs={"input": torch.zeros(8, 64)},
                                   threads=1))
'''


def test_turns_pause_only_after_spinning_threads(tmp_path: Path, tiny_int8_ir: Path) -> None:
    """``--turn`` sets each side's turn. OpenVINO's threads sleep after a request: no settle
    pause between its turns. A torch model's OpenMP threads spin: a pause before every turn
    that follows one."""
    pytest.importorskip("torch")
    side = write_side(tmp_path / "ov", tiny_int8_ir)
    torch_side = tmp_path / "torch"
    torch_side.mkdir()
    (torch_side / "conftest.py").write_text("")
    (torch_side / "test_side.py").write_text(TORCH_SIDE_TEST)
    paused = {}
    for name, directory in (("openvino", side), ("torch", torch_side)):
        out = run_ab("--base", str(directory), "--head", str(directory), "--rounds", "3",
                     "--turn", "0.2", "--no-confirm", "--report", f"{name}.json", "--",
                     "--cpuperf-warmup", "0.1", cwd=tmp_path)
        assert out.returncode in (0, 1), out.stdout + out.stderr
        assert "3 rounds of 0.2 s turns" in out.stderr
        ab = json.loads((tmp_path / f"{name}.json").read_text())["machine"]["ab"]
        assert (ab["turn_s"], ab["settle_s"]) == (0.2, 0.3)
        [paused[name]] = ab["settle_pauses"].values()
    # every turn after a torch turn: 2 a round, 3 rounds (more if a burst spoiled one)
    assert paused["openvino"] == 0
    assert paused["torch"] >= 6 and paused["torch"] % 2 == 0, paused


def test_a_trial_time_after_the_separator_sets_the_turn_unless_turn_is_given() -> None:
    from pytest_cpuperf.ab.cli import with_turn
    from pytest_cpuperf.errors import CpuperfUsageError

    assert with_turn(["-k", "x"], None) == (["-k", "x", "--cpuperf-trial-time=1"], 1.0)
    assert with_turn(["--cpuperf-trial-time", "1"], None) == (["--cpuperf-trial-time", "1"], 1.0)
    assert with_turn(["--cpuperf-trial-time=0.5"], None)[1] == 0.5
    assert with_turn(["--cpuperf-trial-time=0.5"], 0.1) == (
        ["--cpuperf-trial-time=0.5", "--cpuperf-trial-time=0.1"], 0.1)  # the last one wins
    with pytest.raises(CpuperfUsageError, match="--turn S"):
        with_turn(["--cpuperf-trial-time", "soon"], None)


def test_a_turn_that_is_not_positive_is_a_usage_error(tmp_path: Path) -> None:
    out = run_ab("--turn", "0", cwd=tmp_path)
    assert out.returncode == 2
    assert "--turn" in out.stderr
