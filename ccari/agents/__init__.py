"""Agents: login, presence, the agent web page and its live websocket."""
