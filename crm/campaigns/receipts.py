"""POST /api/v1/delivery-receipts: the vendor's signed callback, written in batches.

The body is one receipt or an array of up to 1,000 (vendors post their events in batches: one
request per message spends more on HTTP than on storing it). Checks the timestamped HMAC
signature over the raw body (`signing.py`; 401 saying why when missing, malformed, stale or
wrong), then checks each receipt is about a message we sent to the vendor: its log row exists
and its `vendor_message_id` is the id the vendor gave when it accepted the message, which the
dispatcher recorded on the row (`check_known`). A receipt that fails is refused and nothing of
it is stored. The others are queued for the next write to the receipt journal
(`receipt_journal.py`), and the answer comes only once that write is done, so an acknowledged
receipt is never lost and an unacknowledged one is retried by the vendor. The journal then moves
each log row forward only: PENDING or SENT -> DELIVERED or FAILED. A repeated receipt is dropped
by the journal and changes nothing, so counting (by aggregation over the log) stays exact.

A batch with some refused receipts stores the good ones and answers 202 listing the refused ones
(`refused`: index, key, reason, and `retry` when sending it again later can succeed): a batch
sender that retries whole requests would otherwise resend the good ones forever behind one bad
item. When every receipt of a request is refused the answer is a 409 `unknown_message` error
naming each; `Retry-After` is set when all of them may succeed later (the vendor's answer to our
send is not recorded yet: a receipt can overtake it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field
from pymongo import UpdateMany, UpdateOne

from crm.campaigns.model import FAILED, PENDING, SENT
from crm.store.clock import utc_now
from crm.store.documents import Database, Document
from crm.store.schema import IN_QUERY_CHUNK

PATH = "/api/v1/delivery-receipts"
MAX_RECEIPTS_PER_REQUEST = 1_000
T = TypeVar("T")


class Receipt(BaseModel):
    """What the vendor reports about one message."""

    idempotency_key: str = Field(
        min_length=3,
        max_length=400,
        pattern=r"^[0-9a-f]{24}:.+$",
        description="the key the message was sent with: <campaign_id>:<customer_id>",
    )
    vendor_message_id: str = Field(min_length=1, max_length=100)
    status: Literal["DELIVERED", "FAILED"]
    reason: str | None = Field(default=None, max_length=500, description="why it failed")
    occurred_at: datetime

    @property
    def campaign_id(self) -> str:
        return self.idempotency_key.split(":", 1)[0]

    @property
    def customer_id(self) -> str:
        return self.idempotency_key.split(":", 1)[1]


def forward_only(allowed_from: list[str], changes: Document, computed: Document | None = None) -> list[Document]:
    """An update pipeline applying `changes` only when the row's status is in `allowed_from`.

    The filter stays on the unique (campaign_id, customer_id) key, so the server uses that index
    (a status condition in the filter made the embedded server scan). Values are $literal: a
    text from outside that starts with "$" must not be read as a field path. `computed` holds
    expressions (such as `per_row`) applied under the same condition.
    """
    moves = {"$in": ["$status", allowed_from]}
    values = {name: {"$literal": value} for name, value in changes.items()}
    values.update(computed or {})
    fields = {name: {"$cond": [moves, value, f"${name}"]} for name, value in values.items() if name != "status"}
    if "status" in values:  # last, in case stages are evaluated field by field
        fields["status"] = {"$cond": [moves, values["status"], "$status"]}
    return [{"$set": fields}]


def per_row(customer_ids: list[str], values: list[Any]) -> Document:
    """In an update of many rows, each row's own value: `values[i]` for the row of `customer_ids[i]`.

    This is what lets one UpdateMany replace a list of UpdateOnes and still write exact per-row
    facts (vendor id, times): the embedded server's cost is per operation more than per row.
    """
    return {"$arrayElemAt": [{"$literal": values}, {"$indexOfArray": [{"$literal": customer_ids}, "$customer_id"]}]}


def chunks(items: Sequence[T], size: int = IN_QUERY_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def receipt_update(receipt: Receipt) -> UpdateOne:
    """The forward-only change one receipt makes to its log row."""
    return UpdateOne(
        {"campaign_id": receipt.campaign_id, "customer_id": receipt.customer_id},
        forward_only(
            [PENDING, SENT],
            {
                "error": receipt.reason if receipt.status == FAILED else None,
                "settled_at": receipt.occurred_at,
                "accepted": True,
                "updated_at": utc_now(),
                "status": receipt.status,
            },
        ),
    )


def write_receipts(db: Database, receipts: Sequence[Receipt]) -> list[None]:
    """One batch in as few operations as possible: one UpdateMany per (campaign, outcome, reason).

    Forward-only: a row already DELIVERED or FAILED is left alone, so a repeated or late receipt
    changes nothing. The settle time stays exact per row (`per_row`). The vendor id is the one
    recorded when the vendor accepted the message (the endpoint refuses receipts naming another),
    so it is never written from a receipt.
    """
    groups: dict[tuple[str, str, str | None], dict[str, Receipt]] = {}
    for r in receipts:
        reason = r.reason if r.status == FAILED else None
        groups.setdefault((r.campaign_id, r.status, reason), {}).setdefault(r.customer_id, r)
    stamp = utc_now()
    ops = []
    for (campaign_id, status, reason), by_customer in groups.items():
        for chunk in chunks(list(by_customer.values())):
            ids = [r.customer_id for r in chunk]
            computed = {"settled_at": per_row(ids, [r.occurred_at for r in chunk])}
            ops.append(
                UpdateMany(
                    {"campaign_id": campaign_id, "customer_id": {"$in": ids}},
                    forward_only(
                        [PENDING, SENT],
                        {"error": reason, "accepted": True, "updated_at": stamp, "status": status},
                        computed,
                    ),
                )
            )
    if ops:
        db.communication_log.bulk_write(ops, ordered=False)
    return [None] * len(receipts)


class Refusal(BaseModel):
    """A receipt of a request that was not taken, and why."""

    index: int | None = Field(description="its place in the array (null for a single receipt)")
    idempotency_key: str
    field: str
    reason: str
    retry: bool = Field(description="true when sending it again later may succeed")


NO_SUCH_MESSAGE = "no message of ours has this idempotency key"
NOT_RECORDED = (
    "the vendor's acceptance of this message is not recorded yet (the receipt came first); send it again later"
)
MISMATCH = "this is not the vendor message id the vendor gave when it accepted this message"


def check_known(db: Database, receipts: Sequence[Receipt], batch: bool) -> tuple[list[Receipt], list[Refusal]]:
    """(receipts about messages we sent with that vendor id, refusals of the others).

    One indexed read per campaign and chunk of customers, on the unique (campaign, customer) key.
    """
    wanted: dict[str, set[str]] = {}
    for r in receipts:
        wanted.setdefault(r.campaign_id, set()).add(r.customer_id)
    recorded: dict[tuple[str, str], str | None] = {}
    for campaign_id, customers in wanted.items():
        for chunk in chunks(sorted(customers)):
            for row in db.communication_log.find(
                {"campaign_id": campaign_id, "customer_id": {"$in": chunk}},
                {"_id": 0, "customer_id": 1, "vendor_message_id": 1},
            ):
                recorded[(campaign_id, row["customer_id"])] = row.get("vendor_message_id")
    good, refused = [], []
    for index, r in enumerate(receipts):
        key = (r.campaign_id, r.customer_id)
        where = index if batch else None
        if key not in recorded:
            refused.append(
                Refusal(
                    index=where,
                    idempotency_key=r.idempotency_key,
                    field="idempotency_key",
                    reason=NO_SUCH_MESSAGE,
                    retry=False,
                )
            )
        elif recorded[key] is None:
            refused.append(
                Refusal(
                    index=where,
                    idempotency_key=r.idempotency_key,
                    field="vendor_message_id",
                    reason=NOT_RECORDED,
                    retry=True,
                )
            )
        elif recorded[key] != r.vendor_message_id:
            refused.append(
                Refusal(
                    index=where,
                    idempotency_key=r.idempotency_key,
                    field="vendor_message_id",
                    reason=MISMATCH,
                    retry=False,
                )
            )
        else:
            good.append(r)
    return good, refused
