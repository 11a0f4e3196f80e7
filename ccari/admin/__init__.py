"""The admin/API side: tenant-scoped REST with bearer tokens."""
