"""Demo data: deterministic for a seed and date, realistic in shape, loaded through the one writer."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from crm.auth import CLI
from crm.demo import DemoSpec, generate, load_demo
from crm.demo.seasons import diwali
from crm.store.schema import ensure_indexes

AS_OF = date(2025, 6, 30)
SMALL = DemoSpec(customers=400, orders=4_000, seed=7, as_of=AS_OF)


def _comparable(docs):
    """Documents without the times of the write (consent is recorded when it is written, too)."""

    def consent(value):
        return {channel: {k: v for k, v in c.items() if k != "at"} for channel, c in value.items()}

    def history(entries):
        return [{k: v for k, v in entry.items() if k != "at"} for entry in entries]

    kept = {"consent": consent, "consent_history": history}
    return [
        {k: kept.get(k, lambda v: v)(v) for k, v in doc.items() if k not in ("_id", "created_at", "updated_at")}
        for doc in docs
    ]


def test_same_seed_and_date_give_identical_rows():
    first, second = generate(SMALL), generate(SMALL)
    assert first.customers == second.customers
    assert first.orders == second.orders


def test_another_seed_or_date_gives_other_rows():
    base = generate(SMALL)
    other_seed = generate(DemoSpec(customers=400, orders=4_000, seed=8, as_of=AS_OF))
    other_day = generate(DemoSpec(customers=400, orders=4_000, seed=7, as_of=AS_OF + timedelta(days=1)))
    assert base.customers != other_seed.customers
    assert base.orders != other_seed.orders
    assert base.orders != other_day.orders


def test_counts_ids_and_emails_are_as_asked_and_unique():
    data = generate(SMALL)
    assert len(data.customers) == 400 and len(data.orders) == 4_000
    assert len({c["customer_id"] for c in data.customers}) == 400
    assert len({o["order_id"] for o in data.orders}) == 4_000
    assert len({c["email"] for c in data.customers}) == 400
    assert all(c["phone"] is None or (c["phone"].startswith("+91") and len(c["phone"]) == 13) for c in data.customers)


def test_behaviours_never_buyers_lapsed_and_loyal_are_all_there():
    data = generate(DemoSpec(customers=2_000, orders=20_000, seed=1, as_of=AS_OF))
    buyers = Counter(o["customer_id"] for o in data.orders)
    never = sum(c["customer_id"] not in buyers for c in data.customers) / len(data.customers)
    last = {}
    for order in data.orders:
        last[order["customer_id"]] = max(last.get(order["customer_id"], order["order_date"]), order["order_date"])
    cutoff = datetime.combine(AS_OF - timedelta(days=90), datetime.min.time(), UTC)
    lapsed = sum(when < cutoff for when in last.values()) / len(data.customers)
    assert 0.10 <= never <= 0.20
    assert 0.10 <= lapsed <= 0.40
    # Loyal customers order far more than the median buyer.
    counts = sorted(buyers.values())
    assert counts[int(len(counts) * 0.95)] >= 5 * counts[len(counts) // 2]


def test_statuses_amounts_and_dates_are_realistic():
    data = generate(DemoSpec(customers=2_000, orders=20_000, seed=3, as_of=AS_OF))
    statuses = Counter(o["status"] for o in data.orders)
    assert set(statuses) == {"completed", "cancelled", "refunded"}
    assert 0.03 <= statuses["cancelled"] / 20_000 <= 0.07
    assert 0.015 <= statuses["refunded"] / 20_000 <= 0.045
    rupees = sorted(float(o["amount"]) for o in data.orders)
    assert rupees[0] >= 99 and rupees[-1] <= 200_000
    assert rupees[-len(rupees) // 100] > 10 * rupees[len(rupees) // 2]  # a long tail
    signup = {c["customer_id"]: c["signup_date"] for c in data.customers}
    end = datetime.combine(AS_OF + timedelta(days=1), datetime.min.time(), UTC)
    assert all(signup[o["customer_id"]] <= o["order_date"] < end for o in data.orders)
    assert max(o["order_date"] for o in data.orders).date() >= AS_OF - timedelta(days=1)  # fresh


def test_orders_peak_before_diwali():
    data = generate(DemoSpec(customers=2_000, orders=20_000, seed=5, as_of=date(2025, 12, 31)))
    festival = diwali(2025)
    days = Counter(o["order_date"].date() for o in data.orders if o["order_date"].year == 2025)
    before = sum(days[festival - timedelta(days=d)] for d in range(1, 21)) / 20
    september = sum(n for day, n in days.items() if day.month == 9) / 30
    assert before > 1.5 * september


@pytest.mark.slow  # writes the demo twice
def test_cli_loads_the_demo_and_loading_again_changes_nothing(db, cli):
    args = ("demo", "--customers", "300", "--orders", "2000", "--seed", "11", "--as-of", "2025-06-30")
    first = cli(*args, check=True)
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["written"] == {
        "customers": {"inserted": 300, "updated": 0, "unchanged": 0},
        "orders": {"inserted": 2000, "updated": 0, "unchanged": 0},
    }
    campaign = summary["campaign"]
    assert campaign["orders"] > 0 and campaign["holdout"] > 0
    assert db.customers.count_documents({}) == 300 and db.orders.count_documents({}) == 2000 + campaign["orders"]
    again = json.loads(cli(*args, check=True).stdout.strip().splitlines()[-1])
    assert again["written"]["orders"] == {"inserted": 0, "updated": 0, "unchanged": 2000}
    assert again["campaign"] == campaign
    assert db.orders.count_documents({}) == 2000 + campaign["orders"]
    assert db.campaigns.count_documents({}) == 1
    assert db.communication_log.count_documents({}) == campaign["recipients"] + campaign["holdout"]


@pytest.mark.slow  # generates and writes the demo twice
def test_same_seed_writes_identical_documents_in_two_databases(db):
    spec = DemoSpec(customers=200, orders=1_500, seed=21, as_of=AS_OF)
    other = db.client[f"{db.name}_b"]
    ensure_indexes(other)
    try:
        load_demo(db, spec, by=CLI)
        load_demo(other, spec, by=CLI)
        for kind, key in (("customers", "customer_id"), ("orders", "order_id")):
            assert _comparable(db[kind].find().sort(key)) == _comparable(other[kind].find().sort(key))
        members = [{"customer_id": 1, "status": 1, "variant": 1, "sent_at": 1, "_id": 0}, ("customer_id", 1)]
        assert list(db.communication_log.find({}, members[0]).sort(*members[1])) == list(
            other.communication_log.find({}, members[0]).sort(*members[1])
        )  # the same campaign id, hence the same holdout and orders
        order = db.orders.find_one({"order_id": "ORD-0000001"})
        assert isinstance(order["amount"], int) and order["status"] in {"completed", "cancelled", "refunded"}
    finally:
        db.client.drop_database(other.name)


def test_reset_replaces_everything_with_the_demo(db, cli):
    db.customers.insert_one({"customer_id": "mine", "name": "Not demo"})
    cli("demo", "--customers", "50", "--orders", "100", "--no-campaign", check=True)
    result = cli("demo", "--customers", "50", "--orders", "100", "--reset", check=True)
    campaign = json.loads(result.stdout.strip().splitlines()[-1])["campaign"]
    assert db.customers.count_documents({"customer_id": "mine"}) == 0
    assert db.customers.count_documents({}) == 50 and db.orders.count_documents({}) == 100 + campaign["orders"]


@pytest.mark.parametrize(
    "args, where",
    [
        (("--customers", "0"), "--customers"),
        (("--orders", "-1"), "--orders"),
        (("--as-of", "30/06/2025"), "--as-of"),
    ],
)
def test_bad_options_are_refused_with_one_line(cli, args, where):
    result = cli("demo", *args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {where}")
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # a demo big enough for its campaign to show a lift
def test_the_demo_campaign_shows_the_lift_planted_in_its_orders(db):
    from crm.campaigns.results import campaign_results
    from crm.demo.campaign import EFFECT, HOLDOUT_PERCENT, start_of

    spec = DemoSpec(customers=3_000, orders=30_000, seed=42, as_of=AS_OF)
    report = load_demo(db, spec, by=CLI)
    assert report.campaign is not None
    campaign = db.campaigns.find_one()
    assert campaign["status"] == "completed" and campaign["started_at"] == start_of(spec)
    statuses = Counter(row["status"] for row in db.communication_log.find())
    assert set(statuses) == {"DELIVERED", "FAILED", "HOLDOUT"}  # nothing pending, nothing left to send
    held = statuses["HOLDOUT"] / sum(statuses.values())
    sent = db.communication_log.find_one({"status": "DELIVERED"})
    assert sent["created_at"] == campaign["started_at"]  # three weeks ago, as a frequency cap counts it
    assert abs(held - HOLDOUT_PERCENT / 100) < 0.03

    results = campaign_results(db, report.campaign.campaign_id)
    assert results is not None and results.lift is not None
    assert results.lift.significant and results.lift.low > 0
    # The planted truth (about 7 points, both variants alike) lies within the interval.
    assert results.lift.low < 100 * sum(EFFECT) / len(EFFECT) < results.lift.high
    assert results.as_json()["messaged"]["recipients"] == report.campaign.recipients
