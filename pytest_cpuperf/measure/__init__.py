"""How a figure is measured: the test's recorder (the ``cpuperf`` fixture), the timing engine,
the contention counters read around each trial, the measurement data, accuracy metrics."""
