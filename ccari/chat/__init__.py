"""Web chat between customers and agents (issue #5)."""
