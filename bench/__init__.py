"""Benchmarks of hallsvc against baselines measured in the same run.

Run them as modules from the repository root, e.g.
`.venv/bin/python -m bench.issue_ticket`; docs/benchmarks.md has the figures.
"""
