"""The data model: metric records and results, run reports, trials, measurements and kernel
reports. Imports nothing from the package but :mod:`pytest_cpuperf.stats` and the status and
error types."""
