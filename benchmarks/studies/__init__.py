"""One-off studies of agreement with benchmark_app, behind the fidelity evidence page:
``python -m benchmarks.studies.<name>`` (see benchmarks/README.md)."""
