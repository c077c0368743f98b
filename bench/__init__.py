"""Benchmarks: each module runs side by side with its baseline and records figures."""
