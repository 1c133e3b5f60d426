"""Did the campaign work? Messaged against holdout: the difference in conversion rate with its 95%
interval and p-value, and the incremental revenue with its interval, in figures and one sentence.

Conversion: Newcombe's hybrid score interval for the difference of two independent proportions
(statsmodels `confint_proportions_2indep`, method "newcombe") and the score test's p-value
(`test_proportions_2indep`, method "score"). Unlike the Wald interval, both keep close to their
nominal level with the small counts and rates near 0 a holdout often has. (statsmodels'
inverted score interval was tried first: its root finder fails on some ordinary counts, e.g.
320 of 3,000 against 85 of 1,000.) "Significant" means the interval excludes 0, so the
sentence and the interval a user reads never disagree; the p-value is reported beside it.
Revenue per recipient: Welch's t interval for a difference of means (scipy `ttest_ind`,
`equal_var=False`): revenue is skewed and its spread differs between the groups; with hundreds
of recipients per group the mean's distribution is near normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crm.formats.indian_numbers import format_count

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Figures:
    """One group's (messaged, holdout or one variant's) outcome."""

    recipients: int
    converters: int
    revenue_paise: int

    @property
    def conversion_rate(self) -> float | None:
        return self.converters / self.recipients if self.recipients else None

    @property
    def revenue_per_recipient_paise(self) -> float | None:
        return self.revenue_paise / self.recipients if self.recipients else None

    def as_json(self) -> dict[str, int | float | None]:
        rate, per = self.conversion_rate, self.revenue_per_recipient_paise
        return {
            "recipients": self.recipients,
            "converters": self.converters,
            "conversion_rate": None if rate is None else round(rate, 6),
            "revenue": self.revenue_paise / 100,
            "revenue_per_recipient": None if per is None else round(per / 100, 2),
        }


@dataclass(frozen=True)
class Difference:
    """A difference of rates (in percentage points) between two groups, with its 95% interval."""

    points: float
    low: float
    high: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def conversion_difference(converters: int, recipients: int, base_converters: int, base_recipients: int) -> Difference:
    """Rate of the first group minus the second's, in points (score interval and test)."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    if not recipients or not base_recipients:
        raise ValueError("both groups need recipients")
    diff = converters / recipients - base_converters / base_recipients
    if converters + base_converters in (0, recipients + base_recipients):  # no variation: nothing to test
        return Difference(0.0, 0.0, 0.0, 1.0)
    low, high = confint_proportions_2indep(
        converters, recipients, base_converters, base_recipients, method="newcombe", compare="diff", alpha=ALPHA
    )
    with np.errstate(divide="ignore", invalid="ignore"):  # a group with no converter: a term of it is 0/0
        test = test_proportions_2indep(
            converters, recipients, base_converters, base_recipients, method="score", compare="diff"
        )
    p_value = float(test.pvalue)
    return Difference(diff * 100, float(low) * 100, float(high) * 100, p_value if math.isfinite(p_value) else 1.0)


def mean_difference(values: np.ndarray, base: np.ndarray) -> tuple[float, float, float]:
    """Mean of `values` minus mean of `base`, with Welch's 95% interval (same units)."""
    from scipy import stats

    diff = float(values.mean() - base.mean())
    if len(values) < 2 or len(base) < 2 or (values.var() == 0 and base.var() == 0):
        return diff, diff, diff
    interval = stats.ttest_ind(values, base, equal_var=False).confidence_interval(1 - ALPHA)
    return diff, float(interval.low), float(interval.high)


def recipients_needed(rate: float, base_rate: float, ratio: float) -> int | None:
    """Messaged recipients that would detect this difference with 80% power at 5% (None when the
    rates are equal: no size tells them apart)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    effect = proportion_effectsize(rate, base_rate)
    if not effect or not math.isfinite(effect):
        return None
    # ratio = holdout / messaged
    needed = NormalIndPower().solve_power(effect_size=abs(effect), alpha=ALPHA, power=POWER, ratio=ratio)
    return math.ceil(float(needed))


def verdict(lift: Difference, messaged: Figures, holdout: Figures) -> str:
    """One sentence a marketer reads first."""
    low, high = f"{lift.low:.1f}", f"{lift.high:.1f}"
    if lift.significant and lift.points > 0:
        return (
            f"Messaged customers converted {lift.points:.1f} points more than the holdout "
            f"(95% CI {low} to {high}): the campaign worked."
        )
    if lift.significant:
        return (
            f"Messaged customers converted {-lift.points:.1f} points less than the holdout "
            f"(95% CI {low} to {high}): the message put people off."
        )
    sentence = f"Not distinguishable from no message yet: {lift.points:+.1f} points (95% CI {low} to {high})"
    rate, base = messaged.conversion_rate or 0.0, holdout.conversion_rate or 0.0
    needed = recipients_needed(rate, base, holdout.recipients / messaged.recipients) if messaged.recipients else None
    if needed is not None and needed > messaged.recipients:
        sentence += (
            f"; if the difference is real, about {format_count(needed - messaged.recipients)} more messaged "
            "recipients (with the same share held out) would tell"
        )
    return sentence + "."
