"""Benchmarks. Run with ``make bench`` (or ``.venv/bin/python -m bench``).

Every figure is a ratio against a baseline measured in the same run on the same machine, because
this machine is shared and noisy; absolute numbers are printed for context only.
"""
