"""Request and response shapes for the OpenAPI document, with examples.

Request bodies are read as JSON and validated by `crm.ingest.records` (the CSV import's
validator), so their schema is generated from those record models rather than written again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from crm.ingest.records import MODELS

CUSTOMER_EXAMPLE = {
    "customer_id": "C-1001",
    "name": "Asha Verma",
    "email": "asha@example.com",
    "phone": "+91 98200 12345",
    "city": "Mumbai",
    "gender": "female",
    "age": 34,
    "signup_date": "2024-01-15",
    "tags": ["vip", "newsletter"],
    "consent": {"email": "yes", "sms": "no"},
}
ORDER_EXAMPLE = {
    "order_id": "O-5001",
    "customer_id": "C-1001",
    "amount": 1299.5,
    "status": "completed",
    "order_date": "2024-03-01T10:30:00+05:30",
}
EXAMPLES = {"customers": CUSTOMER_EXAMPLE, "orders": ORDER_EXAMPLE}
INPUT_SCHEMA_NAMES = {"customers": "CustomerInput", "orders": "OrderInput"}

AMOUNT_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 100_000_000},
        {"type": "string", "pattern": r"^\s*\d+(\.\d{1,2})?\s*$"},
    ],
    "title": "Amount",
    "description": "rupees with at most 2 decimals, at most ₹10 crore (stored as integer paise)",
    "examples": [1299.5],
}


def input_schemas() -> dict[str, dict]:
    """Component schemas of the input records, generated from the validation models."""
    schemas: dict[str, dict] = {}
    for kind, model in MODELS.items():
        schema = model.model_json_schema(mode="validation", ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        if "amount" in schema.get("properties", {}):
            schema["properties"]["amount"] = AMOUNT_SCHEMA
        schema["title"] = INPUT_SCHEMA_NAMES[kind]
        schema["examples"] = [EXAMPLES[kind]]
        schemas[INPUT_SCHEMA_NAMES[kind]] = schema
    return schemas


def request_body(kind: str) -> dict:
    """openapi_extra for a POST that takes one record or an array of them."""
    ref = {"$ref": f"#/components/schemas/{INPUT_SCHEMA_NAMES[kind]}"}
    example = EXAMPLES[kind]
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"anyOf": [ref, {"type": "array", "items": ref, "minItems": 1}]},
                    "examples": {
                        "one": {"summary": f"one {kind[:-1]}", "value": example},
                        "batch": {
                            "summary": f"a batch of {kind}",
                            "value": [
                                example,
                                {
                                    **example,
                                    **(
                                        {"order_id": "O-5002", "amount": "450.00", "status": "refunded"}
                                        if kind == "orders"
                                        else {
                                            "customer_id": "C-1002",
                                            "name": "Ravi Nair",
                                            "email": "ravi@example.com",
                                            "city": "Pune",
                                        }
                                    ),
                                },
                            ],
                        },
                    },
                }
            },
        }
    }


class WriteSummary(BaseModel):
    """Direct mode: what the write did. Retrying the same request gives unchanged = all."""

    inserted: int = Field(examples=[2])
    updated: int = Field(examples=[0])
    unchanged: int = Field(examples=[0])


class QueuedBatch(BaseModel):
    """Redis mode: the batch is validated and queued; a worker writes it."""

    queued: int = Field(description="items accepted", examples=[2])
    entry_id: str = Field(description="the Redis stream entry holding the batch", examples=["1732560000000-0"])


class LastOrder(BaseModel):
    order_id: str
    amount: str = Field(description="rupees", examples=["1299.50"])
    status: str
    order_date: datetime


class OrderSummary(BaseModel):
    count: int = Field(description="orders of any status", examples=[3])
    completed_count: int = Field(examples=[2])
    total_spend: str = Field(description="completed orders, in rupees", examples=["2599.00"])
    total_spend_paise: int = Field(examples=[259900])
    currency: str = Field("INR", examples=["INR"])
    last_order: LastOrder | None = None


class CustomerView(BaseModel):
    customer: dict[str, Any] = Field(
        description="the stored customer (fields as in the input, plus created_at and updated_at)"
    )
    orders: OrderSummary


CUSTOMER_VIEW_EXAMPLE = {
    "customer": {
        **CUSTOMER_EXAMPLE,
        "signup_date": "2024-01-15T00:00:00Z",
        "consent": {
            channel: {"status": status, "source": "api key shop backend", "at": "2024-03-01T05:00:00Z"}
            for channel, status in (("email", "yes"), ("sms", "no"), ("whatsapp", "unknown"))
        },
        "created_at": "2024-03-01T05:00:00Z",
        "updated_at": "2024-03-01T05:00:00Z",
    },
    "orders": {
        "count": 1,
        "completed_count": 1,
        "total_spend": "1299.50",
        "total_spend_paise": 129950,
        "currency": "INR",
        "last_order": {
            "order_id": "O-5001",
            "amount": "1299.50",
            "status": "completed",
            "order_date": "2024-03-01T05:00:00Z",
        },
    },
}


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    database: str = Field(examples=["ok"])
    redis: str = Field(description="ok, or 'not configured' when REDIS_URL is unset", examples=["not configured"])


def rupees(paise: int) -> str:
    sign = "-" if paise < 0 else ""
    paise = abs(paise)
    return f"{sign}{paise // 100}.{paise % 100:02d}"
