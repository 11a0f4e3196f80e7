"""Several ccari nodes on one PostgreSQL: the bus between them and the routing leader."""
