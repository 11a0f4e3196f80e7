"""The SIP edge: Kamailio (Debian's package, its dispatcher module) in front of the Asterisk
media nodes.

Carrier calls enter through Kamailio, which spreads them over the nodes by relative weight
and stops sending to a node that stops answering OPTIONS.  ccari renders Kamailio's
configuration (:mod:`.render`), keeps the destinations in PostgreSQL, where Kamailio reads
them (:mod:`.models`, :mod:`.repo`): each node that carries calls registers its own
Asterisk; the routing leader turns what each node carries into weights (:mod:`.weights`,
pure) and asks Kamailio to reload them over JSON-RPC (:mod:`.rpc`, :mod:`.keeper`).
"""
