"""Email contacts: SMTP intake, routing, agent replies, threading (issue #5)."""
