"""The demo tenants a newcomer (or a script) can call right after ``ccari run``."""
