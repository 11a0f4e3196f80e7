"""Email contacts: SMTP intake, routing, agent replies, threading."""
