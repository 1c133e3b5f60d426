"""What the data holds that a sentence may name: cities, tags, genders and the workspace's custom
attributes with their values (from the analytic copy)."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from crm.segment_engine.attributes import Attribute, catalogue_with
from crm.segment_engine.catalogue import Catalogue


@dataclass(frozen=True)
class DataFacts:
    cities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    genders: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    # attr.<key> -> values in the data, for text and list attributes with few of them
    attribute_values: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    @property
    def fields(self) -> Catalogue:
        """The fields a rule may name: built-in ones and these attributes."""
        return catalogue_with(self.attributes)


def data_facts(cur: duckdb.DuckDBPyConnection, attributes: tuple[Attribute, ...] = ()) -> DataFacts:
    """The values the rule builder offers for city, tags, gender and text attributes, most
    common first."""
    from crm.segment_builder.choices import value_choices

    choices = value_choices(cur, attributes)
    return DataFacts(
        cities=tuple(choices.get("city", ())),
        tags=tuple(choices.get("tags", ())),
        genders=tuple(choices.get("gender", ())),
        attributes=attributes,
        attribute_values=tuple((a.name, tuple(choices[a.name])) for a in attributes if a.name in choices),
    )


def current_data_facts() -> DataFacts:
    """Facts of this process's analytic copy."""
    from crm import analytics

    copy = analytics.open_copy()
    return data_facts(copy.cursor(), copy.attributes)
