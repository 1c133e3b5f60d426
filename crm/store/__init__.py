"""MongoDB, the system of record: client, embedded server, collections and indexes."""

from crm.store.client import claim_database, database_uri, embedded_server, get_db, reset

__all__ = ["claim_database", "database_uri", "embedded_server", "get_db", "reset"]
