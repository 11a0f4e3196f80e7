"""Speech in the IVR: a caller's spoken answer to a menu, recognised offline (pocketsphinx)."""
