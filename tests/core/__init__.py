"""The core in-process, against real servers (the embedded database, Redis, HTTP on free ports)."""
