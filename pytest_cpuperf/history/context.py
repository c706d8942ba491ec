"""Where a run comes from: commit and branch (git, or the CI's variables) and the CI job."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunContext:
    """Commit, branch and CI job of a run, and the id that makes appending it idempotent."""

    run_id: str
    commit: str | None
    branch: str | None
    ci_job: str | None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and text else None


def _github(env: Mapping[str, str]) -> tuple[str | None, str | None, str | None, str | None]:
    """(commit, branch, job description, run id) from GitHub Actions' variables."""
    branch = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME")
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    repo, run = env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "")
    job = env.get("GITHUB_JOB", "")
    url = f"{server}/{repo}/actions/runs/{run}" if repo and run else None
    described = f"{url} job {job}" if url else None
    run_id = f"github:{repo}:{run}:{job}" if run else None
    return env.get("GITHUB_SHA"), branch, described, run_id


def _gitlab(env: Mapping[str, str]) -> tuple[str | None, str | None, str | None, str | None]:
    """(commit, branch, job description, run id) from GitLab CI's variables."""
    branch = env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or env.get("CI_COMMIT_REF_NAME")
    job = env.get("CI_JOB_URL") or env.get("CI_JOB_NAME")
    run_id = (f"gitlab:{env.get('CI_PROJECT_PATH', '')}:{env['CI_PIPELINE_ID']}:"
              f"{env.get('CI_JOB_NAME', '')}") if env.get("CI_PIPELINE_ID") else None
    return env.get("CI_COMMIT_SHA"), branch, job, run_id


def detect_context(root: Path, machine_key: str,
                   env: Mapping[str, str] | None = None) -> RunContext:
    """The context of a run in ``root``: the CI's variables first, then git.

    The run id is ``CPUPERF_RUN_ID`` when set; on CI it is derived from the pipeline and job
    (plus the machine), so a retried job appending the same run again is recorded once; a local
    run gets a fresh random id.
    """
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        commit, branch, job, ci_run = _github(env)
    elif env.get("GITLAB_CI") == "true":
        commit, branch, job, ci_run = _gitlab(env)
    else:
        commit = branch = job = ci_run = None
    commit = commit or _git(["rev-parse", "HEAD"], root)
    if not branch:
        branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], root)
        branch = None if branch == "HEAD" else branch
    run_id = env.get("CPUPERF_RUN_ID") or (f"{ci_run}:{machine_key}" if ci_run
                                           else f"local:{uuid.uuid4()}")
    return RunContext(run_id=run_id, commit=commit, branch=branch, ci_job=job)
