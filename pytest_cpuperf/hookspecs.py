"""Hooks other plugins and conftest files may implement (``pytest_cpuperf_*``).

Registered by the plugin in ``pytest_addhooks``, in the manner of pytest-benchmark's
``pytest_benchmark_update_machine_info`` and ``pytest_benchmark_update_json``; the baseline store
is chosen by a hook, as pytest-benchmark chooses its storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .records.results import RunReport
    from .store.baselines import BaselineStore


@pytest.hookspec
def pytest_cpuperf_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]
                                       ) -> None:
    """Add to or change the machine description stored with baselines and reports, once per
    session (for example a runner label or the cloud instance type).

    The machine key, which names the baseline file, is computed before this hook and is not
    affected by it.
    """


@pytest.hookspec
def pytest_cpuperf_update_report(config: pytest.Config, report: RunReport) -> None:
    """Change the session's report before any report file is written (on the xdist
    controller only): add entries to ``report.extra``, or drop results."""


@pytest.hookspec(firstresult=True)
def pytest_cpuperf_make_store(config: pytest.Config, files: BaselineStore
                              ) -> BaselineStore | None:
    """The session's baseline store: where this machine's baselines are read from and where
    ``--cpuperf-update`` writes them. Called once, when the session first needs it (the first
    result that is not None wins; none: ``files``).

    ``files`` is the default store, the JSON baseline file of this machine in the baseline
    directory; an implementation may return it wrapped, e.g. reading baselines from elsewhere
    and writing updates to ``files`` (``--cpuperf-baseline-from-history`` does so).
    """
