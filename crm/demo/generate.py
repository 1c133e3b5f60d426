"""Deterministic, realistic demo data for an Indian retailer, generated with numpy.

Same seed and same `as_of` date -> the same rows. Dates are laid out backwards from `as_of`
(default: yesterday, UTC), so the data always looks fresh: signups over the last three years, orders
up to and including `as_of`. Customers fall into behaviours that segments should find:
loyal buyers, regular buyers, lapsed buyers (no order for months) and people who never bought.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from faker.providers.person.en_IN import Provider as IndianNames

from crm.demo.seasons import day_weights

HISTORY_DAYS = 3 * 365

# Share of customers per city, roughly following metro population and online retail reach.
CITIES = {
    "Mumbai": 14,
    "Delhi": 14,
    "Bengaluru": 12,
    "Hyderabad": 8,
    "Chennai": 8,
    "Kolkata": 7,
    "Pune": 7,
    "Ahmedabad": 5,
    "Jaipur": 4,
    "Lucknow": 3,
    "Surat": 3,
    "Chandigarh": 2,
    "Kochi": 2,
    "Indore": 2,
    "Nagpur": 2,
    "Bhopal": 1.5,
    "Coimbatore": 1.5,
    "Patna": 1,
    "Visakhapatnam": 1,
    "Guwahati": 1,
}
EMAIL_DOMAINS = {
    "gmail.com": 62,
    "yahoo.co.in": 12,
    "outlook.com": 9,
    "rediffmail.com": 6,
    "hotmail.com": 6,
    "icloud.com": 5,
}

# Behaviour: share of customers and how many orders each tends to place (relative).
BEHAVIOURS = ("loyal", "regular", "lapsed", "never")
BEHAVIOUR_SHARE = (0.15, 0.50, 0.20, 0.15)
ORDER_RATE = {"loyal": 6.0, "regular": 1.0, "lapsed": 0.8}
LAPSED_MIN_DAYS = 120  # a lapsed customer's last order is at least this old

STATUS_SHARE = {"completed": 0.92, "cancelled": 0.05, "refunded": 0.03}
MIN_AMOUNT_RUPEES, MAX_AMOUNT_RUPEES = 99, 200_000
MEDIAN_BASKET_RUPEES = 1_100

# Hour of day (IST) when people shop online: evenings are busiest.
HOUR_WEIGHTS_IST = np.array(
    [1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2.5, 3.5, 4, 4.2, 4.5, 4.3, 4, 4, 4.2, 4.5, 5, 5.5, 6, 6, 4.5, 2.5]
)
IST = timedelta(hours=5, minutes=30)


@dataclass(frozen=True)
class DemoSpec:
    customers: int = 5_000
    orders: int = 50_000
    seed: int = 42
    # Yesterday: an order is placed on its day in IST, up to 23:59 IST (18:29 UTC); with today,
    # most of the day the last orders would be in the future and fall into any new campaign's window.
    as_of: date = field(default_factory=lambda: datetime.now(UTC).date() - timedelta(days=1))
    campaign: bool = True  # add the past campaign with a holdout (`crm.demo.campaign`)


@dataclass
class DemoData:
    """Rows in the CSV/API record format (amounts in rupees), ready for validation."""

    spec: DemoSpec
    customers: list[dict]
    orders: list[dict]
    behaviour: dict[str, str]  # customer_id -> loyal | regular | lapsed | never


def generate(spec: DemoSpec) -> DemoData:
    if spec.customers < 1 or spec.orders < 0:
        raise ValueError("need at least one customer and a non-negative number of orders")
    rng = np.random.default_rng(spec.seed)
    start = spec.as_of - timedelta(days=HISTORY_DAYS - 1)  # day index 0; as_of is the last
    n = spec.customers

    behaviour = rng.choice(len(BEHAVIOURS), size=n, p=BEHAVIOUR_SHARE)
    # Signups grow over time (a growing business): a steady base plus a linearly rising share.
    u = rng.random(n)
    signup_day = np.floor(HISTORY_DAYS * np.where(rng.random(n) < 0.4, u, np.sqrt(u))).astype(int)
    signup_day = np.minimum(signup_day, HISTORY_DAYS - 1)
    # Someone who signed up recently cannot have lapsed yet: they count as regular.
    lapsed = BEHAVIOURS.index("lapsed")
    too_new = (behaviour == lapsed) & (signup_day > HISTORY_DAYS - 1 - LAPSED_MIN_DAYS - 30)
    behaviour[too_new] = BEHAVIOURS.index("regular")

    last_day = np.full(n, HISTORY_DAYS - 1)
    is_lapsed = behaviour == lapsed
    latest_lapse = HISTORY_DAYS - 1 - LAPSED_MIN_DAYS
    last_day[is_lapsed] = rng.integers(signup_day[is_lapsed] + 30, latest_lapse + 1)

    customers = _customer_rows(rng, n, behaviour, signup_day, start)
    orders = _order_rows(rng, spec.orders, customers, behaviour, signup_day, last_day, start)
    names = {c["customer_id"]: BEHAVIOURS[b] for c, b in zip(customers, behaviour)}
    return DemoData(spec=spec, customers=customers, orders=orders, behaviour=names)


def _customer_rows(rng, n, behaviour, signup_day, start: date) -> list[dict]:
    gender = rng.choice(["female", "male", "other"], size=n, p=[0.48, 0.50, 0.02])
    female_first = np.array(IndianNames.first_names_female)
    male_first = np.array(IndianNames.first_names_male)
    first = np.where(
        gender == "female",
        female_first[rng.integers(0, len(female_first), n)],
        male_first[rng.integers(0, len(male_first), n)],
    )
    last = np.array(IndianNames.last_names)[rng.integers(0, len(IndianNames.last_names), n)]
    city = _weighted(rng, CITIES, n)
    domain = _weighted(rng, EMAIL_DOMAINS, n)
    age = np.clip(np.round(rng.normal(33, 10, n)), 18, 75).astype(int)
    phone = rng.choice([6, 7, 8, 9], size=n, p=[0.15, 0.2, 0.25, 0.4]) * 10**9 + rng.integers(0, 10**9, n)
    # Real exports are patchy: a few customers lack a phone, an age or a gender.
    no_phone, no_age, no_gender = (rng.random(n) < share for share in (0.04, 0.10, 0.05))

    loyal = behaviour == BEHAVIOURS.index("loyal")
    wholesale = rng.random(n) < 0.03
    tags = {
        "vip": np.where(loyal, rng.random(n) < 0.6, rng.random(n) < 0.02),
        "newsletter": rng.random(n) < 0.45,
        "app_user": rng.random(n) < np.where(loyal, 0.7, 0.35),
        "wholesale": wholesale,
        "student": (age < 24) & (rng.random(n) < 0.5),
    }
    # Consent as a real base has it: most agreed to email, fewer to SMS and WhatsApp, some said
    # no, and for some nobody ever asked (unknown, which is never messaged).
    consent = {
        channel: _consent_statuses(rng.random(n), agreed, refused)
        for channel, agreed, refused in (("email", 0.86, 0.05), ("sms", 0.74, 0.09), ("whatsapp", 0.62, 0.12))
    }

    rows, seen_emails = [], set()
    for i in range(n):
        local = f"{first[i]}.{last[i]}".lower().replace(" ", "")
        email = f"{local}@{domain[i]}"
        if email in seen_emails:  # namesakes get a number, as mail providers do
            email = f"{local}{i + 1}@{domain[i]}"
        seen_emails.add(email)
        signup = datetime.combine(start + timedelta(days=int(signup_day[i])), time(), UTC)
        rows.append(
            {
                "customer_id": f"CUST-{i + 1:06d}",
                "name": f"{first[i]} {last[i]}",
                "email": email,
                "phone": None if no_phone[i] else f"+91{phone[i]}",
                "city": str(city[i]),
                "gender": None if no_gender[i] else str(gender[i]),
                "age": None if no_age[i] else int(age[i]),
                "signup_date": signup,
                "tags": [tag for tag, has in tags.items() if has[i]],
                "consent": {channel: str(statuses[i]) for channel, statuses in consent.items()},
            }
        )
    return rows


def _consent_statuses(draws, agreed: float, refused: float):
    return np.where(draws < agreed, "yes", np.where(draws < agreed + refused, "no", "unknown"))


def _order_rows(rng, m, customers, behaviour, signup_day, last_day, start: date) -> list[dict]:
    buyers = np.flatnonzero(behaviour != BEHAVIOURS.index("never"))
    if m == 0 or len(buyers) == 0:
        return []
    # Appetite grows with the time someone has been a customer (their active window).
    tenure_years = (last_day[buyers] - signup_day[buyers] + 30) / 365
    owner = _assign_orders(rng, m, buyers, behaviour, tenure_years)

    # Order day: drawn from the seasonal calendar, within the customer's active window
    # (signup .. last day), by inverting the cumulative weights of that window.
    weights = day_weights(start, HISTORY_DAYS)
    cdf = np.concatenate([[0.0], np.cumsum(weights)])
    lo, hi = cdf[signup_day[owner]], cdf[last_day[owner] + 1]
    day = np.searchsorted(cdf, lo + rng.random(m) * (hi - lo), side="right") - 1
    day = np.clip(day, signup_day[owner], last_day[owner])
    hour_ist = rng.choice(24, size=m, p=HOUR_WEIGHTS_IST / HOUR_WEIGHTS_IST.sum())
    seconds = hour_ist * 3600 + rng.integers(0, 3600, m)

    # Basket size: lognormal long tail, bigger in the festive season and for wholesale buyers.
    festive = weights[day] > 1.7
    wholesale = np.array(["wholesale" in customers[i]["tags"] for i in range(len(customers))])
    mu = np.log(MEDIAN_BASKET_RUPEES) + 0.2 * festive + np.log(8) * wholesale[owner]
    rupees = np.clip(rng.lognormal(mu, 1.1), MIN_AMOUNT_RUPEES, MAX_AMOUNT_RUPEES)
    # Most baskets are shelf prices ending in 9 (₹1,299); the rest carry paise after discounts.
    shelf = np.maximum(np.round(rupees / 10) * 10 - 1, MIN_AMOUNT_RUPEES) * 100
    paise = np.where(rng.random(m) < 0.7, shelf, np.round(rupees * 100)).astype(np.int64)
    status = rng.choice(list(STATUS_SHARE), size=m, p=list(STATUS_SHARE.values()))

    # Order ids follow time, as a shop's order numbers do.
    order = np.lexsort((seconds, day))
    rows = []
    for number, k in enumerate(order, start=1):
        # Shoppers' IST clock -> UTC instant; the order stays on its calendar day in IST.
        at = datetime.combine(start + timedelta(days=int(day[k])), time(), UTC)
        at += timedelta(seconds=int(seconds[k])) - IST
        at = max(at, customers[owner[k]]["signup_date"])  # never before the signup
        rows.append(
            {
                "order_id": f"ORD-{number:07d}",
                "customer_id": customers[owner[k]]["customer_id"],
                "amount": f"{paise[k] // 100}.{paise[k] % 100:02d}",
                "status": str(status[k]),
                "order_date": at,
            }
        )
    return rows


def _assign_orders(rng, m, buyers, behaviour, tenure_years) -> np.ndarray:
    """Which customer places each of m orders: every buyer at least one, the rest by appetite."""
    rate = np.array([ORDER_RATE[BEHAVIOURS[b]] for b in behaviour[buyers]]) * tenure_years
    rate *= rng.gamma(3.0, 1 / 3, len(buyers))  # people differ even within a behaviour
    if m <= len(buyers):
        return rng.choice(buyers, size=m, replace=False, p=rate / rate.sum())
    extra = rng.choice(buyers, size=m - len(buyers), p=rate / rate.sum())
    return np.concatenate([buyers, extra])


def _weighted(rng, table: Mapping[str, float], n: int) -> np.ndarray:
    names = list(table)
    weights = np.array([table[name] for name in names], dtype=float)
    return np.array(names)[rng.choice(len(names), size=n, p=weights / weights.sum())]
