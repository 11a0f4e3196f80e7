"""SIP attacks: Asterisk security events watched, sources blocked in a PJSIP ACL."""
