"""Deterministic, valid customer and order CSV files of any size (benchmarks and tests)."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIRST_NAMES = [
    "Aarav",
    "Priya",
    "Rohan",
    "Ananya",
    "Vikram",
    "Isha",
    "Kabir",
    "Meera",
    "Arjun",
    "Diya",
    "अमित",
    "Zoë",
    "José",
    "Fatima",
    "Chen",
]
LAST_NAMES = ["Sharma", "Patel", "Iyer", "Reddy", "Khan", "Gupta", "Singh", "Das", "Nair", "Mehta"]
CITIES = ["Mumbai", "Pune", "Delhi", "Bengaluru", "Chennai", "Hyderabad", "Kolkata", "Jaipur", "Kochi"]
TAGS = ["vip", "newsletter", "wholesale", "app", "festive", "churn-risk"]
STATUSES = ["completed"] * 8 + ["cancelled", "refunded"]
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)

CUSTOMER_COLUMNS = ["customer_id", "name", "email", "phone", "city", "gender", "age", "signup_date", "tags"]
ORDER_COLUMNS = ["order_id", "customer_id", "amount", "status", "order_date"]


def customer_id(index: int) -> str:
    return f"C{index:07d}"


def write_customers_csv(path: Path, count: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CUSTOMER_COLUMNS)
        for index in range(1, count + 1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            signup = EPOCH + timedelta(minutes=rng.randrange(700 * 24 * 60))
            writer.writerow(
                [
                    customer_id(index),
                    f"{first} {last}",
                    f"user{index}@example.com",
                    f"+91 9{rng.randrange(10**9):09d}",
                    rng.choice(CITIES),
                    rng.choice(["F", "M", ""]),
                    rng.randrange(18, 80),
                    signup.strftime("%Y-%m-%dT%H:%M:%S+05:30"),
                    ";".join(rng.sample(TAGS, rng.randrange(3))),
                ]
            )
    return path


def write_orders_csv(path: Path, count: int, customers: int, seed: int = 11) -> Path:
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(ORDER_COLUMNS)
        for index in range(1, count + 1):
            ordered = EPOCH + timedelta(seconds=rng.randrange(700 * 24 * 3600))
            writer.writerow(
                [
                    f"O{index:08d}",
                    customer_id(rng.randrange(1, customers + 1)),
                    f"{rng.randrange(100, 2_000_000) / 100:.2f}",
                    rng.choice(STATUSES),
                    ordered.strftime("%Y-%m-%d") if index % 5 == 0 else ordered.isoformat(),
                ]
            )
    return path
