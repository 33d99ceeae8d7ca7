"""Benchmarks: each ``bench_*.py`` module has ``main()``, compares against a baseline in the same run and
writes its own section of docs/benchmarks.md through ``bench.report.write_section``. Run: ``python -m bench``."""
