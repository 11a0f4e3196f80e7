"""Web chat between customers and agents."""
