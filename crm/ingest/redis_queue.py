"""The Redis side of the ingest queue: key names, the client, and reading stream replies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from crm.config import Settings
from crm.errors import Unavailable


@dataclass(frozen=True)
class StreamKeys:
    """Redis key names, all under one prefix (tests use a prefix of their own)."""

    prefix: str

    @property
    def stream(self) -> str:
        return f"{self.prefix}ingest"

    @property
    def group(self) -> str:
        return f"{self.prefix}writers"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}ingest:dead"

    @property
    def queued_customers(self) -> str:
        return f"{self.prefix}ingest:queued-customers"

    def all(self) -> list[str]:
        return [self.stream, self.dead_letter, self.queued_customers]


def redis_client(settings: Settings) -> redis.Redis:
    if not settings.redis_url:
        raise Unavailable("REDIS_URL is not set: the stream worker needs Redis")
    return redis.Redis.from_url(
        settings.redis_url, decode_responses=True, socket_connect_timeout=5, health_check_interval=30
    )


# Our client decodes replies (decode_responses=True): a stream entry is (id, {field: text}).
# redis-py's types cannot know that, so replies are read through `entries_of`, and the fields we
# add are typed as redis-py asks.
Fields = dict[str, str]
NewFields = dict[FieldT, EncodableT]


def entries_of(reply: Any) -> list[tuple[str, Fields]]:
    """The entries of an XRANGE or XAUTOCLAIM reply, or of one stream of XREADGROUP's; entries
    deleted while pending (no fields) left out."""
    return [(str(entry_id), dict(fields)) for entry_id, fields in reply or [] if fields]


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
