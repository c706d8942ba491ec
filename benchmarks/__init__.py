"""Measurement-quality benchmarks of pytest-cpuperf: ``python -m benchmarks.run [--quick]``.

They print figures (fidelity against benchmark_app, loop overhead, false alarms, detection
power, time to verdict, plugin cost when off); they are not timed tests of the suite.
"""
