"""Benchmarks for costbot: `make bench` runs them all; `python -m bench.<name>` runs one.

Not tests: nothing here asserts a timing. Each benchmark prints a table and ratios against a
baseline measured in the same run, so the numbers travel between machines.
"""
