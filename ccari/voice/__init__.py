"""The voice path: ARI handlers, the IVR and the media side of the ACD."""
