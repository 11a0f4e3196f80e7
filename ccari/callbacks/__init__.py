"""Callbacks and click-to-call, with the toll-fraud guard (issue #5)."""
