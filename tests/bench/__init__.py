"""Benchmarks (issue 9): `python -m tests.bench [--quick] [--only NAME]`, or `make bench` / `make bench-quick`.

Not tests: module names are `bench_*.py` so pytest never collects them. Every figure is measured side by side
with its peer in the same run; results go to `tests/bench/results/latest.{md,json}`.
"""
