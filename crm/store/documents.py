"""The types of what MongoDB holds, written once: a document is a dict of BSON values, and our
database hands out such documents (pymongo's types are generic over the document type)."""

from __future__ import annotations

from typing import Any, TypeAlias

from pymongo.database import Database as _PymongoDatabase

Document: TypeAlias = dict[str, Any]
Database: TypeAlias = _PymongoDatabase[Document]
