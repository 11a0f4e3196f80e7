"""The supervisor's view: pending contacts of every medium, reordered or rescheduled."""
