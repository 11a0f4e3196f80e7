"""Benchmarks: ``python -m bench.<name>``. They print figures; nothing here is a test."""
