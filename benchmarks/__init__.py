"""Benchmarks run by ``make bench``; each prints its result as a ratio against a baseline measured
in the same run. Timings are never asserted in tests."""
