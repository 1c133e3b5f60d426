"""A campaign's results: conversions and attributed revenue of the messaged and the holdout, the
lift with its interval, the figures per variant, and the cumulative conversion by day.

One JSON object for `campaign results`, the API and the History page (see `results_json`).
Members come from communication_log, orders from the analytic copy (`attribution.py`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crm.campaigns.attribution import HOLDOUT, MEMBER_SCHEMA, MESSAGED, Outcomes, attribute
from crm.campaigns.lift import Difference, Figures, conversion_difference, mean_difference, verdict
from crm.campaigns.model import HOLDOUT as HOLDOUT_STATUS
from crm.campaigns.model import Campaign
from crm.campaigns.repository import get_campaign
from crm.store.documents import Database

ATTRIBUTION_RULE = (
    "A conversion is a completed order within the window after the member's message (holdout: "
    "after the campaign started sending); a customer in two campaigns' windows counts for both, "
    "each campaign being measured against its own holdout."
)
NO_HOLDOUT = "Attributed figures only: measuring what the campaign caused needs a holdout (set one when you send)."

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*size changed.*", category=RuntimeWarning)
    from pymongoarrow.api import Schema, find_arrow_all

_LOG_SCHEMA = Schema(
    {"customer_id": pa.string(), "status": pa.string(), "variant": pa.int64(), "sent_at": pa.timestamp("ms")}
)


@dataclass
class Results:
    campaign: Campaign
    messaged: Figures
    holdout: Figures | None
    lift: Difference | None = None
    incremental: tuple[float, float, float] | None = None  # paise: estimate, low, high
    variants: list[tuple[Figures, Difference | None]] = field(default_factory=list)
    winner: int | None = None  # 0-based, only when it beats the runner-up significantly
    curve: dict[str, list[float]] = field(default_factory=dict)  # group -> rate by day 0..window
    sentence: str = ""

    @property
    def relative_lift(self) -> float | None:
        """The lift as a share of the holdout's rate (0.5: half as many converted again)."""
        base = self.holdout.conversion_rate if self.holdout else None
        if self.lift is None or not base:
            return None
        return self.lift.points / 100 / base

    def as_json(self) -> dict[str, Any]:
        lift = None
        if self.lift is not None and self.incremental is not None:
            lift = {
                "conversion_points": round(self.lift.points, 4),
                "relative": None if self.relative_lift is None else round(self.relative_lift, 4),
                "ci_low": round(self.lift.low, 4),
                "ci_high": round(self.lift.high, 4),
                "p_value": round(self.lift.p_value, 6),
                "significant": self.lift.significant,
                "incremental_revenue": round(self.incremental[0] / 100, 2),
                "incremental_revenue_ci_low": round(self.incremental[1] / 100, 2),
                "incremental_revenue_ci_high": round(self.incremental[2] / 100, 2),
            }
        return {
            "campaign_id": self.campaign.id,
            "name": self.campaign.name,
            "window_days": self.campaign.window_days,
            "holdout_percent": self.campaign.holdout_percent,
            "started_at": self.campaign.started_at.isoformat() if self.campaign.started_at else None,
            "messaged": self.messaged.as_json(),
            "holdout": self.holdout.as_json() if self.holdout else None,
            "lift": lift,
            "variants": [
                {
                    "variant": i + 1,
                    **figures.as_json(),
                    "conversion_points_vs_holdout": None if vs is None else round(vs.points, 4),
                    "winner": self.winner == i,
                }
                for i, (figures, vs) in enumerate(self.variants)
            ],
            "verdict": self.sentence,
            "attribution": ATTRIBUTION_RULE,
        }


def members(db: Database, campaign: Campaign) -> pa.Table:
    """Every member of a campaign that started sending: group, variant and start (UTC)."""
    assert campaign.started_at is not None
    log = find_arrow_all(db.communication_log, {"campaign_id": campaign.id}, schema=_LOG_SCHEMA, allow_invalid=True)
    started = pa.scalar(campaign.started_at.replace(tzinfo=None), pa.timestamp("ms"))
    sent_at = log["sent_at"].fill_null(started)
    held = pc.equal(log["status"], HOLDOUT_STATUS)
    start = pc.if_else(held, started, sent_at)
    return pa.table(
        {
            "customer_id": log["customer_id"],
            "grp": pc.if_else(held, HOLDOUT, MESSAGED),
            "variant": log["variant"].fill_null(0),
            "start": start.cast(pa.timestamp("ms", tz="UTC")),
        },
        schema=MEMBER_SCHEMA,
    )


def figures(outcomes: Outcomes, mask: np.ndarray) -> Figures:
    return Figures(int(mask.sum()), int(outcomes.converted[mask].sum()), int(outcomes.revenue_paise[mask].sum()))


def compute_results(campaign: Campaign, outcomes: Outcomes) -> Results:
    """The figures and statistics of a campaign from its members' outcomes."""
    messaged_mask = outcomes.group == MESSAGED
    holdout_mask = outcomes.group == HOLDOUT
    messaged = figures(outcomes, messaged_mask)
    holdout = figures(outcomes, holdout_mask) if holdout_mask.any() else None
    result = Results(campaign, messaged, holdout)
    result.curve = {
        name: _curve(outcomes, mask, campaign.window_days)
        for name, mask in ((MESSAGED, messaged_mask), (HOLDOUT, holdout_mask))
        if mask.any()
    }
    variant_masks = [messaged_mask & (outcomes.variant == i) for i in range(len(campaign.templates))]
    if holdout is not None and messaged.recipients:
        result.lift = conversion_difference(
            messaged.converters, messaged.recipients, holdout.converters, holdout.recipients
        )
        per, low, high = mean_difference(
            outcomes.revenue_paise[messaged_mask].astype(float), outcomes.revenue_paise[holdout_mask].astype(float)
        )
        result.incremental = (per * messaged.recipients, low * messaged.recipients, high * messaged.recipients)
        result.sentence = verdict(result.lift, messaged, holdout)
    else:
        result.sentence = NO_HOLDOUT
    for mask in variant_masks:
        group = figures(outcomes, mask)
        vs = None
        if holdout is not None and group.recipients:
            vs = conversion_difference(group.converters, group.recipients, holdout.converters, holdout.recipients)
        result.variants.append((group, vs))
    result.winner = _winner([f for f, _ in result.variants])
    return result


def _winner(groups: list[Figures]) -> int | None:
    """The variant with the best conversion rate, when it beats the runner-up significantly."""
    ranked = sorted(
        (i for i, g in enumerate(groups) if g.recipients), key=lambda i: groups[i].conversion_rate or 0.0, reverse=True
    )
    if len(ranked) < 2:
        return None
    best, second = groups[ranked[0]], groups[ranked[1]]
    difference = conversion_difference(best.converters, best.recipients, second.converters, second.recipients)
    return ranked[0] if difference.significant and difference.points > 0 else None


def _curve(outcomes: Outcomes, mask: np.ndarray, window_days: int) -> list[float]:
    """Share of the group converted by day d since its start, d = 0..window (day 0: the first 24 h)."""
    days = outcomes.days_to_first[mask]
    total = int(mask.sum())
    return [float(np.sum(days <= d + 1)) / total for d in range(window_days)]


def results_for(campaign: Campaign, table: pa.Table) -> Results:
    """The results of a started campaign whose members (`members`) are `table`, from the
    analytic copy's orders as they are now."""
    from crm.analytics.analytic_copy import open_copy

    return compute_results(campaign, attribute(open_copy().cursor(), table, campaign.window_days))


def campaign_results(db: Database, campaign_id: str) -> Results | None:
    """The results of a campaign, from the analytic copy as it is now; None before it started."""
    campaign = get_campaign(db, campaign_id)
    if campaign.started_at is None:
        return None
    return results_for(campaign, members(db, campaign))
