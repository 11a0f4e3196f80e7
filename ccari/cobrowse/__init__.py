"""Co-browsing: the customer's page mirrored to the agent (issue #6)."""
