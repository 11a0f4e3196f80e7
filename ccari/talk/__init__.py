"""Talk now: the customer's voice from the help widget (WebRTC through a public SIP relay)."""
