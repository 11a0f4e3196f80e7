"""Tenants, their numbers, IVR menus and queues (the configuration side)."""
