"""Tests of the harness's own logic: ``python -m pytest benchmarks/tests``, apart from the
product's suite under tests/."""
