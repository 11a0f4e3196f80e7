"""Interval reports per queue, agent and medium, from the contact event log."""
