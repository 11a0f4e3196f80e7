"""Agent sites and their WAN links: bandwidth per call, codec choice, loads (seed 002)."""
