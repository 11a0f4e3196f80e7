"""Business hours and holiday calendars, per tenant and per number."""
