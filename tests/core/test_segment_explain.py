"""Why a customer is in or out: the words, their own values, and each group's result."""

from __future__ import annotations

from datetime import UTC, date, datetime

from crm.segment_engine.explain import explain

AS_OF = date(2024, 6, 1)
RULE = {
    "op": "and",
    "rules": [
        {"field": "total_spend", "operator": ">", "value": 5000},
        {
            "op": "or",
            "not": False,
            "rules": [
                {"field": "city", "operator": "=", "value": "Mumbai"},
                {"field": "days_since_last_order", "operator": ">", "value": 90},
            ],
        },
        {"field": "tags", "operator": "contains", "value": "vip"},
    ],
}
PRIYA = {"customer_id": "C1", "name": "Priya", "city": " Pune", "tags": ["VIP"]}
ORDERS = [
    {"customer_id": "C1", "order_date": datetime(2024, 1, 1, tzinfo=UTC), "amount": 600_000, "status": "completed"},
    {"customer_id": "C1", "order_date": datetime(2024, 5, 30, tzinfo=UTC), "amount": 900_000, "status": "cancelled"},
]


def flat(step, depth=0):
    yield depth, step.text, step.held, step.value
    for member in step.steps:
        yield from flat(member, depth + 1)


def test_each_condition_shows_the_customers_own_value_and_whether_it_held():
    explained = explain(RULE, PRIYA, ORDERS, AS_OF)
    assert explained.selected
    assert list(flat(explained.rule)) == [
        (0, "all of", True, None),
        (1, "who spent more than ₹5,000", True, "₹6,000.00"),  # the cancelled order does not count
        (1, "any of", True, None),
        (2, "whose city is “Mumbai”", False, " Pune"),  # as stored
        (2, "whose last order was more than 90 days ago", True, "152 days"),
        (1, "whose tags include “vip”", True, "VIP"),
    ]


def test_a_missing_value_says_so_and_fails_its_comparison():
    explained = explain(RULE, {"customer_id": "C2", "tags": []}, [], AS_OF)
    assert not explained.selected
    steps = list(flat(explained.rule))
    assert steps[1] == (1, "who spent more than ₹5,000", False, "₹0.00")
    assert steps[4] == (2, "whose last order was more than 90 days ago", False, "missing")
    assert steps[5][2:] == (False, "no tags")


def test_a_negated_group_reads_not_and_inverts():
    rule = {"op": "and", "not": True, "rules": [{"field": "city", "operator": "=", "value": "pune"}]}
    explained = explain(rule, PRIYA, [], AS_OF)
    assert (explained.rule.text, explained.rule.held, explained.selected) == ("not all of", False, False)
