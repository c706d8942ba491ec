"""Statistics with no knowledge of pytest, runtimes or storage: throughput intervals and
verdict tests, latency percentile bounds, contention factors, trailing-window change tests."""
