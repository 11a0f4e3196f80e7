"""Fax as a contact: a document received on a tenant's fax number, queued for an agent."""
