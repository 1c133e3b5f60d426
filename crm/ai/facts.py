"""What the data holds that a sentence may name: cities, tags and genders (from the analytic copy)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class DataFacts:
    cities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    genders: tuple[str, ...] = ()


def data_facts(cur: duckdb.DuckDBPyConnection) -> DataFacts:
    """The values the rule builder offers for city, tags and gender, most common first."""
    from crm.segment_builder.choices import value_choices

    choices = value_choices(cur)
    return DataFacts(
        cities=tuple(choices.get("city", ())),
        tags=tuple(choices.get("tags", ())),
        genders=tuple(choices.get("gender", ())),
    )


def current_data_facts() -> DataFacts:
    """Facts of this process's analytic copy."""
    from crm import analytics

    return data_facts(analytics.open_copy().cursor())
