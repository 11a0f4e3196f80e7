"""Voicemail as a contact: a caller's recorded message, queued like any work for an agent."""
