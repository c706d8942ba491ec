"""``cpuperf ab``: both sides of a change measured on one machine in one job, interleaved.

* :mod:`.channel` - JSON lines over a socket the coordinator passes down to each worker.
* :mod:`.worker` / :mod:`.worker_plugin` - a long-lived pytest session per side that runs the
  test the coordinator names and asks it before every round of trials.
* :mod:`.coordinator` - starts both workers, runs the rounds base/head alternately, collects.
* :mod:`.verdict` - paired verdicts (head / base) -> a :class:`~..records.results.RunReport`.
* :mod:`.checkout` - git: the base worktree (with submodules), the sides' commits.
* :mod:`.signals` - SIGINT and SIGTERM from the run's first step to its last.
* :mod:`.cli` - the ``cpuperf ab`` sub-command.
"""
