"""Co-browsing: the customer's page mirrored to the agent."""
