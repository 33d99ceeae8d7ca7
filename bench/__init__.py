"""The tools. Benchmarks: each ``bench_*.py`` module has ``main()``, compares against a baseline in the same
run and writes its own section of docs/benchmarks.md through ``bench.report.write_section``. Run:
``python -m bench``. Traffic and screenshots: ``traffic.py`` drives demo traffic through the API, and
``screenshots.py`` drives the UI in a headless browser (the browser test and the README images)."""
