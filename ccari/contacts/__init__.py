"""Contacts of every medium and the universal queue service around the routing core."""
