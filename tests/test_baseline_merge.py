"""Baseline files in git: branches that change different records merge with plain ``git merge``,
and ``cpuperf baseline-merge`` (a git merge driver) joins the rest record by record.

Every test runs the real ``git`` on a real repository; the baselines are written by the store's
own writer (what ``--cpuperf-update`` calls), or by real ``pytest --cpuperf --cpuperf-update``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from pytest_cpuperf.records.results import MetricRecord
from pytest_cpuperf.store.baselines import BaselineFile, load, update_file

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")

MACHINE = {"key": "m", "cpu": "AMD EPYC", "vendor": "amd", "family": 25, "model": 1,
           "stepping": 1, "isa_class": "avx2", "cores": 2, "flags": ["avx2"]}
FILE = ".cpuperf/m.json"
ALGORITHMS = ["default", "myers", "histogram", "patience"]
"""Content merges git may be asked for (``git merge -X diff-algorithm=...``)."""


def _test(n: int) -> str:
    return f"tests/test_models.py::test_model[{n:02d}]"


def _record(test: str, metric: str, value: float, day: int = 1) -> MetricRecord:
    """A record as a cpuperf test makes it (runs of one metric look alike, on purpose)."""
    kind, unit = ("latency", "ms") if metric.startswith("latency") else ("throughput",
                                                                         "samples/s")
    return MetricRecord(test_id=test, metric=metric, kind=kind, unit=unit, value=value,
                        samples=[value * 0.99, value, value * 1.01],
                        higher_is_better=kind == "throughput",
                        config={"NUM_STREAMS": 2, "PERFORMANCE_HINT": "THROUGHPUT"},
                        versions={"openvino": "2026.4.1"},
                        date=f"2026-11-{day:02d}T00:00:00+00:00")


def _records(tests: Iterable[int], day: int = 1, value: float = 100.0,
             metrics: Iterable[str] = ("latency_p50_ms", "throughput")) -> list[MetricRecord]:
    return [_record(_test(n), metric, value + n, day) for n in tests for metric in metrics]


class Repo:
    """A git repository in a temporary directory, isolated from the user's git config."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                    "HOME": str(path), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                    "GIT_MERGE_AUTOEDIT": "no"}
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    @property
    def baseline(self) -> Path:
        return self.path / FILE

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["git", *args], cwd=self.path, env=self.env, text=True,
                              capture_output=True)
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout}{done.stderr}")
        return done

    def update(self, records: list[MetricRecord],
               consistent: Iterable[tuple[str, str]] = ()) -> BaselineFile:
        """What ``--cpuperf-update`` does with ``records`` (those in ``consistent`` append)."""
        return update_file(self.baseline, MACHINE, records, set(consistent))

    def commit(self, message: str, *paths: str) -> None:
        self.git("add", *(paths or (FILE,)))
        self.git("commit", "-q", "-m", message)

    def branch(self, name: str, start: str = "main") -> None:
        self.git("checkout", "-q", "-b", name, start)

    def merge(self, branch: str, algorithm: str = "default") -> subprocess.CompletedProcess[str]:
        option = [] if algorithm == "default" else ["-X", f"diff-algorithm={algorithm}"]
        return self.git("merge", "--no-edit", *option, branch, check=False)

    def unmerged(self) -> list[str]:
        return self.git("diff", "--name-only", "--diff-filter=U").stdout.split()


def _stored(path: Path) -> dict[tuple[str, str], dict]:
    """Every record of a baseline file as plain data, by (test, metric)."""
    return {(test, metric): record.to_dict()
            for test, metrics in load(path).records.items()
            for metric, record in metrics.items()}


def _two_branches(repo: Repo, ours: Iterable[tuple[list[MetricRecord], set]],
                  theirs: Iterable[tuple[list[MetricRecord], set]]) -> tuple[dict, dict]:
    """Branches ``ours`` and ``theirs`` from main, each applying its updates; returns what each
    branch stored. Leaves ``ours`` checked out."""
    stored = []
    for name, updates in (("theirs", theirs), ("ours", ours)):
        repo.branch(name)
        for records, consistent in updates:
            repo.update(records, consistent)
        repo.commit(f"update on {name}")
        stored.append(_stored(repo.baseline))
        if name == "theirs":
            repo.git("checkout", "-q", "main")
    return stored[1], stored[0]


def _expected(base: dict, ours: dict, theirs: dict) -> dict:
    """What a record-by-record merge holds: each record as the side that changed it."""
    merged = dict(base)
    for side in (ours, theirs):
        merged.update({key: rec for key, rec in side.items() if base.get(key) != rec})
    return merged


# --- plain git ---------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_branches_adding_different_tests_merge_cleanly_with_plain_git(
        tmp_path: Path, algorithm: str) -> None:
    repo = Repo(tmp_path / "repo")
    repo.update(_records([2, 5, 8]))
    repo.commit("baselines")
    base = _stored(repo.baseline)
    ours, theirs = _two_branches(
        repo,
        ours=[(_records([1, 4]), set()),  # before the first test, and between two
              (_records([5], metrics=["accuracy_top1"]), set())],  # a metric of an old test
        theirs=[(_records([9, 6]), set()),  # after the last test, and between two
                (_records([8], metrics=["accuracy_top1"]), set())])
    merge = repo.merge("theirs", algorithm)
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert repo.unmerged() == []
    merged = _stored(repo.baseline)
    assert merged == _expected(base, ours, theirs)
    assert {test for test, _ in merged} == {_test(n) for n in (1, 2, 4, 5, 6, 8, 9)}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_branches_re_recording_different_tests_merge_cleanly_with_plain_git(
        tmp_path: Path, algorithm: str) -> None:
    repo = Repo(tmp_path / "repo")
    repo.update(_records(range(1, 8)))
    repo.update(_records(range(1, 8), day=2), consistent={
        (_test(n), m) for n in range(1, 8) for m in ("latency_p50_ms", "throughput")})
    repo.commit("baselines, two runs each")
    base = _stored(repo.baseline)
    latency, throughput = "latency_p50_ms", "throughput"
    ours, theirs = _two_branches(
        repo,
        # a third consistent run (appended), a changed model (fresh history), and one metric of
        # a test whose other metric the other branch re-records
        ours=[(_records([2], day=3), {(_test(2), latency), (_test(2), throughput)}),
              (_records([4], day=3, value=50.0), set()),
              (_records([7], day=3, metrics=[latency]), {(_test(7), latency)})],
        # neighbours of the tests the other branch re-records
        theirs=[(_records([3], day=4, value=70.0, metrics=[throughput]), set()),
                (_records([5], day=4), {(_test(5), latency), (_test(5), throughput)}),
                (_records([7], day=4, metrics=[throughput]), {(_test(7), throughput)})])
    merge = repo.merge("theirs", algorithm)
    assert merge.returncode == 0, merge.stdout + merge.stderr
    merged = _stored(repo.baseline)
    assert merged == _expected(base, ours, theirs)
    assert len(merged[(_test(2), throughput)]["runs"]) == 3
    assert len(merged[(_test(4), throughput)]["runs"]) == 1
    assert merged[(_test(7), latency)] == ours[(_test(7), latency)]
    assert merged[(_test(7), throughput)] == theirs[(_test(7), throughput)]


def _agreement(test: str, metric: str, day: int) -> MetricRecord:
    """A deterministic figure (the same every run, as agreements of unchanged models are)."""
    return MetricRecord(test_id=test, metric=metric, kind="agreement", unit="", value=1.0,
                        config={"NUM_STREAMS": 2}, versions={"numpy": "2.1.3",
                                                             "openvino": "2026.4.1"},
                        date=f"2026-11-{day:02d}T00:00:00+00:00")


def test_an_appended_run_stays_in_its_own_metric(tmp_path: Path) -> None:
    """Metrics whose runs look alike (same figure, same versions; only the date differs): a
    line merge must not move a run appended to one of them into its neighbour, silently.
    ``git merge-file`` (the merge of its level, which also resolves conflicts made only of
    punctuation) did, on the indented layout."""
    repo = Repo(tmp_path / "repo")
    metrics = ("agreement/cosine", "agreement/top1")
    for day in (1, 2):
        records = [_agreement(_test(n), m, day) for n in (9, 20) for m in metrics]
        repo.update(records, {r.key for r in records})
    repo.commit("baselines, two runs each")
    base = _stored(repo.baseline)
    appended = _agreement(_test(20), metrics[0], 4)
    ours, theirs = _two_branches(
        repo,
        ours=[([_agreement(_test(9), metrics[1], 3)], set()),  # a fresh history
              ([_agreement(_test(24), m, 3) for m in metrics], set())],  # a new test
        theirs=[([appended], {appended.key})])  # one more run of a neighbour's metric
    expected = _expected(base, ours, theirs)
    versions = {}
    for name, ref in (("base", "main"), ("ours", "ours"), ("theirs", "theirs")):
        versions[name] = tmp_path / f"{name}.json"
        versions[name].write_text(repo.git("show", f"{ref}:{FILE}").stdout)
    merge_file = repo.git("merge-file", str(versions["ours"]), str(versions["base"]),
                          str(versions["theirs"]), check=False)
    assert merge_file.returncode == 0, merge_file.stderr
    assert _stored(versions["ours"]) == expected
    merge = repo.merge("theirs")
    assert merge.returncode == 0, merge.stdout + merge.stderr
    merged = _stored(repo.baseline)
    assert [r["date"][:10] for r in merged[(_test(20), metrics[0])]["runs"]] == [
        "2026-11-01", "2026-11-02", "2026-11-04"]
    assert merged == expected


PERF_TESTS = """
import json
import pathlib

import pytest

FIGURES = json.loads(pathlib.Path(__file__).with_name("figures.json").read_text())


@pytest.mark.cpuperf
@pytest.mark.parametrize("name", {names!r})
def test_model(cpuperf, name):
    samples = FIGURES[name]
    cpuperf.record("throughput", sorted(samples)[1], kind="throughput", unit="samples/s",
                   samples=samples)
"""


def test_pytest_updates_on_two_branches_merge_and_the_next_run_judges_them(
        pytester: pytest.Pytester) -> None:
    """Two branches each run ``pytest --cpuperf --cpuperf-update`` for their own tests (one
    re-records under ``-k``, the other adds a test): plain git merges them, the next run
    judges every test against its baseline."""
    from pytest_cpuperf.isa import detect
    from pytest_cpuperf.store.baselines import baseline_path

    repo = Repo(pytester.path)
    steady = [100.0, 101.0, 99.0, 100.5, 99.5]
    names = ["alpha", "beta", "gamma", "delta"]
    (pytester.path / "figures.json").write_text(json.dumps({n: steady for n in names}))
    pytester.makepyfile(test_perf=PERF_TESTS.format(names=names[:3]))
    path = baseline_path(pytester.path / ".cpuperf", detect())
    relative = str(path.relative_to(pytester.path))
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=3)
    repo.commit("tests and baselines", "test_perf.py", relative)
    repo.branch("theirs")
    pytester.runpytest("--cpuperf", "--cpuperf-update", "-k", "alpha").assert_outcomes(
        passed=1, deselected=2)
    repo.commit("re-record alpha", relative)
    repo.git("checkout", "-q", "main")
    repo.branch("ours")
    pytester.makepyfile(test_perf=PERF_TESTS.format(names=names))
    pytester.runpytest("--cpuperf", "--cpuperf-update", "-k", "delta").assert_outcomes(
        passed=1, deselected=3)
    repo.commit("add delta", "test_perf.py", relative)
    merge = repo.merge("theirs")
    assert merge.returncode == 0, merge.stdout + merge.stderr
    stored = load(path).records
    assert len(stored["test_perf.py::test_model[alpha]"]["throughput"].runs) == 2
    assert sorted(stored) == sorted(f"test_perf.py::test_model[{n}]" for n in names)
    judged = pytester.runpytest("--cpuperf", "--cpuperf-strict")
    judged.assert_outcomes(passed=4)
    assert "no baseline" not in judged.stdout.str()


# --- the merge driver --------------------------------------------------------------------------

DRIVER = f"{shlex.quote(sys.executable)} -m pytest_cpuperf.cli baseline-merge %O %A %B"
"""The documented driver line, with ``cpuperf`` spelled as this interpreter's module."""


def _install_driver(repo: Repo) -> None:
    repo.git("config", "merge.cpuperf.name", "pytest-cpuperf baselines, record by record")
    repo.git("config", "merge.cpuperf.driver", DRIVER)


def _commit_attributes(repo: Repo) -> None:
    (repo.path / ".gitattributes").write_text(".cpuperf/*.json merge=cpuperf\n")
    repo.commit("baselines merge record by record", ".gitattributes")


def test_driver_merges_tests_added_next_to_each_other(tmp_path: Path) -> None:
    """Both branches add tests at the end of the file and between the same two tests, and a
    metric to the same test: plain git stops with conflict markers; the next run names them
    and the way out, and ``git checkout -m`` with the driver installed merges every record."""
    repo = Repo(tmp_path / "repo")
    _commit_attributes(repo)  # committed; the driver is not configured yet
    repo.update(_records([2, 5]))
    repo.commit("baselines")
    base = _stored(repo.baseline)
    ours, theirs = _two_branches(
        repo,
        ours=[(_records([3, 7]), set()), (_records([5], metrics=["accuracy_top1"]), set())],
        theirs=[(_records([4, 8]), set()), (_records([5], metrics=["accuracy_top5"]), set())])
    assert repo.merge("theirs").returncode != 0
    assert repo.unmerged() == [FILE]
    from pytest_cpuperf.errors import BaselineFileError

    with pytest.raises(BaselineFileError, match=r"git conflict markers.*git checkout -m"):
        load(repo.baseline)
    _install_driver(repo)
    redo = repo.git("checkout", "-m", FILE, check=False)
    assert redo.returncode == 0, redo.stdout + redo.stderr
    merged = _stored(repo.baseline)
    assert merged == _expected(base, ours, theirs)
    assert len(merged) == 2 * 6 + 2
    repo.commit("merge")
    assert repo.git("status", "--porcelain").stdout == ""


def _legacy_text(baseline: BaselineFile) -> str:
    """The file as pytest-cpuperf wrote it before the merge-friendly layout."""
    return json.dumps(baseline.to_dict(), indent=2, sort_keys=False) + "\n"


def test_driver_merges_branches_that_each_rewrote_a_legacy_file(tmp_path: Path) -> None:
    """A baseline committed in the older layout; each branch updates it (the writer rewrites it
    in the current layout) and adds a test at the end: plain git stops on the two rewrites, the
    driver merges them."""
    repo = Repo(tmp_path / "repo")
    _commit_attributes(repo)
    recorded = repo.update(_records([1, 2, 3]))
    repo.baseline.write_text(_legacy_text(recorded))
    assert load(repo.baseline).to_dict() == recorded.to_dict(), "the old layout loads"
    repo.commit("baselines, old layout")
    base = _stored(repo.baseline)
    ours, theirs = _two_branches(
        repo,
        ours=[(_records([9]), set()), (_records([2], day=5, value=7.0), set())],
        theirs=[(_records([8]), set()),
                (_records([3], day=6), {(_test(3), "throughput"), (_test(3), "latency_p50_ms")})])
    assert repo.merge("theirs").returncode != 0, "plain git cannot merge the two rewrites"
    repo.git("merge", "--abort")
    _install_driver(repo)
    merge = repo.merge("theirs")
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert "merged record by record: 4 change(s) of ours, 4 of theirs" in merge.stderr + \
        merge.stdout, merge.stdout + merge.stderr
    assert _stored(repo.baseline) == _expected(base, ours, theirs)


def test_driver_merges_a_file_both_branches_created(tmp_path: Path) -> None:
    """No common ancestor (git passes an empty file): both sides' records are kept."""
    repo = Repo(tmp_path / "repo")
    _commit_attributes(repo)
    _install_driver(repo)
    ours, theirs = _two_branches(repo, ours=[(_records([1, 3]), set())],
                                 theirs=[(_records([2]), set())])
    merge = repo.merge("theirs")
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert _stored(repo.baseline) == {**ours, **theirs}


def test_driver_refuses_true_conflicts_and_writes_nothing(tmp_path: Path) -> None:
    """Both branches run a full update (every metric re-recorded on each) and add a test of
    their own: each re-recorded metric is a true conflict, named; the file keeps our side,
    readable, and ``--prefer`` then takes one side of each conflict and merges the rest."""
    repo = Repo(tmp_path / "repo")
    _commit_attributes(repo)
    _install_driver(repo)
    repo.update(_records([1, 2]))
    repo.commit("baselines")
    everything = {(_test(n), m) for n in (1, 2) for m in ("latency_p50_ms", "throughput")}
    ours, theirs = _two_branches(
        repo,
        ours=[(_records([1, 2, 5], day=3), everything)],
        theirs=[(_records([1, 2, 6], day=4, value=101.0), everything)])
    merge = repo.merge("theirs")
    assert merge.returncode != 0
    message = merge.stdout + merge.stderr
    assert "CONFLICT: 4 record(s) changed differently on both sides" in message, message
    for test, metric in sorted(everything):
        assert f"{test} / {metric}: re-recorded on both sides with different figures" in message
    assert _test(5) not in message and _test(6) not in message
    assert repo.unmerged() == [FILE]
    assert repo.baseline.read_text() == repo.git("show", f"ours:{FILE}").stdout
    assert _stored(repo.baseline) == ours, "our side, whole and readable"

    for stage, name in ((1, "base.json"), (3, "theirs.json")):
        (tmp_path / name).write_text(repo.git("show", f":{stage}:{FILE}").stdout)
    from pytest_cpuperf.cli import main

    assert main(["baseline-merge", "--prefer", "theirs", str(tmp_path / "base.json"),
                 str(repo.baseline), str(tmp_path / "theirs.json")]) == 0
    settled = _stored(repo.baseline)
    assert settled == {**theirs, **{k: v for k, v in ours.items() if k[0] == _test(5)}}
    repo.commit("merge, their figures")


# --- the merge, record by record ----------------------------------------------------------------

def _file(records: Iterable[MetricRecord] = (), machine: dict | None = None,
          base: BaselineFile | None = None) -> BaselineFile:
    from pytest_cpuperf.store.baselines import updated

    start = base or BaselineFile(path=Path("unused.json"), machine=dict(machine or MACHINE))
    if machine is not None:
        start = BaselineFile(path=start.path, machine=dict(machine), records=start.records)
    return updated(start, list(records))


def _keys(baseline: BaselineFile) -> set[tuple[str, str]]:
    return {(t, m) for t, metrics in baseline.records.items() for m in metrics}


def test_same_change_on_both_sides_is_kept_once() -> None:
    from pytest_cpuperf.store.merge import merge_baselines

    base = _file(_records([1]))
    same = _file(_records([1], day=2), base=base)
    merged = merge_baselines(base, same, same)
    assert merged.conflicts == [] and merged.taken == {"ours": 0, "theirs": 0}
    assert BaselineFile(Path("x"), merged.machine, merged.records).to_dict()["records"] == \
        same.to_dict()["records"]


def test_a_removed_record_merges_like_any_one_sided_change() -> None:
    from pytest_cpuperf.store.merge import merge_baselines

    base = _file(_records([1, 2]))
    without_one = BaselineFile(base.path, base.machine,
                               {t: m for t, m in base.records.items() if t != _test(1)})
    merged = merge_baselines(base, without_one, base)
    assert merged.conflicts == [] and _test(1) not in merged.records
    re_recorded = _file(_records([1], day=2), base=base)
    clash = merge_baselines(base, without_one, re_recorded)
    assert [str(c) for c in clash.conflicts] == [
        f"{_test(1)} / {m}: removed on one side, re-recorded on the other (theirs)"
        for m in ("latency_p50_ms", "throughput")]


def test_machine_descriptions_of_one_class_merge_and_of_two_classes_conflict() -> None:
    from pytest_cpuperf.store.merge import merge_baselines

    base = _file(_records([1]))
    ours = _file(_records([2]), machine={**MACHINE, "stepping": 2}, base=base)
    theirs = _file(_records([3]), machine={**MACHINE, "stepping": 3}, base=base)
    merged = merge_baselines(base, ours, theirs)
    assert merged.conflicts == [] and merged.machine["stepping"] == 2
    assert merged.notes == ["both sides updated the machine description of the same machine "
                            "class; ours was kept"]
    assert _keys(BaselineFile(Path("x"), {}, merged.records)) == {
        (_test(n), m) for n in (1, 2, 3) for m in ("latency_p50_ms", "throughput")}
    other = _file(_records([3]), machine={**MACHINE, "cores": 4}, base=base)
    clash = merge_baselines(base, ours, other)
    assert [str(c) for c in clash.conflicts] == [
        "machine: the sides describe different machines (cores 2 / 4)"]


def test_cli_refuses_bad_input_naming_it_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        console_script: Callable[[str], str]) -> None:
    from pytest_cpuperf.cli import main

    ours = tmp_path / "ours.json"
    update_file(ours, MACHINE, _records([1]))
    before = ours.read_text()
    base = tmp_path / "base.json"
    base.write_text("")
    assert main(["baseline-merge", str(base), str(ours), str(tmp_path / "gone.json")]) == 2
    assert "THEIRS" in capsys.readouterr().err
    damaged = tmp_path / "theirs.json"
    damaged.write_text('{"schema": "pytest-cpuperf/baselines", "schema_version": 1, '
                       '"records": {"t": {"m": {"kind": "speed", "runs": []}}}}')
    assert main(["baseline-merge", str(base), str(ours), str(damaged)]) == 2
    assert f"baseline file {damaged} is malformed" in capsys.readouterr().err
    assert ours.read_text() == before
    assert main(["baseline-merge", "--prefer", "mine", str(base), str(ours), str(ours)]) == 2
    assert "--prefer: invalid choice: 'mine'" in capsys.readouterr().err
    shown = subprocess.run([console_script("cpuperf"), "baseline-merge", "--help"],
                           capture_output=True, text=True, check=True).stdout
    assert ".cpuperf/*.json merge=cpuperf" in shown
    assert 'git config merge.cpuperf.driver "cpuperf baseline-merge %O %A %B"' in shown
