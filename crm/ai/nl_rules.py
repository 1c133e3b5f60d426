"""Sentence -> segment rule: Gemini with structured output when a key is set, else (or when Gemini
fails) the offline parser. Every proposal says which engine answered.

    proposal = propose_rule("spent over ₹5,000, inactive for 3 months", as_of, facts)
    proposal.rule, proposal.engine, proposal.notes
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from crm.ai.client import GeminiBadAnswer, GeminiClient, GeminiUnavailable, Turn, gemini_client
from crm.ai.facts import DataFacts
from crm.ai.offline_parser import parse_text
from crm.errors import InvalidInput
from crm.segment_engine import Group, parse_rule, prompt_facts, rule_json_schema
from crm.segment_engine.model import TOO_DEEP

OFFLINE = "offline"
MAX_LISTED = 60  # cities or tags named in the prompt; more would only cost tokens

# How we read common phrasings, so Gemini and the offline parser agree on them.
CONVENTIONS = """Conventions for phrasings (follow them):
- "inactive for N", "no orders in the last N", "hasn't ordered in/for N", "lapsed for N" mean
  customers who have ordered before but not in the last N days: days_since_last_order > N.
- "hasn't ordered since <date>": last_order_date before <date>. "never ordered": order_count = 0.
- "ordered/active in the last N days": last_order_date in_last_days N.
- "spent X in the last N days" / "N orders in the last N days": use within_days N.
- A month is 30 days, a week 7, a year 365. 1 lakh = 100000, 1 crore = 10000000, 5k = 5000.
- "more than/over/above" is >, "at least/X or more/X+" is >=, "under/below/less than" is <,
  "at most/up to" is <=, "between X and Y" is between [X, Y].
- Several cities for one person mean any of them (operator "in"). Women/ladies: gender "female";
  men: gender "male".
- Use only cities and tags that exist in the data (listed below), spelled as listed.
- If part of the request cannot be expressed with these fields, leave it out rather than guess."""


@dataclass(frozen=True)
class Proposal:
    rule: Group | None  # None only when the offline parser understood nothing
    engine: str  # the Gemini model that answered, or "offline"
    notes: tuple[str, ...] = ()  # what was not understood, how words were read, why offline

    @property
    def not_understood(self) -> bool:
        return self.rule is None


def system_prompt(today: date, facts: DataFacts) -> str:
    cities = ", ".join(facts.cities[:MAX_LISTED]) or "(none in the data yet)"
    tags = ", ".join(facts.tags[:MAX_LISTED]) or "(none in the data yet)"
    attribute_values = "".join(
        f"\nValues of {name} in the data: {', '.join(values[:MAX_LISTED])}" for name, values in facts.attribute_values
    )
    return f"""You turn a marketer's description of customers into a segment rule (JSON) for a CRM
of an Indian retailer. Answer with the rule only.

Today is {today.isoformat()} (UTC). The currency is the Indian rupee (₹, Rs, INR); amounts in
rules are rupees.

{prompt_facts(facts.fields)}

{CONVENTIONS}

Cities in the data: {cities}
Tags in the data: {tags}{attribute_values}"""


def rule_from_gemini(client: GeminiClient, text: str, today: date, facts: DataFacts) -> Group:
    """Ask Gemini; an invalid rule gets one repair round with the validation error, then fails."""
    system = system_prompt(today, facts)
    schema = rule_json_schema(facts.fields)
    turns = [Turn("user", text)]
    answer = _ask(client, system, turns, schema)
    try:
        return parse_rule(answer.data, facts.fields)
    except InvalidInput as exc:
        first_error = str(exc)
    turns += [
        Turn("model", answer.text),
        Turn(
            "user",
            f"That rule is invalid: {first_error}. Answer with a corrected rule for the "
            f"same request, using only the fields, operators and values allowed.",
        ),
    ]
    repaired = _ask(client, system, turns, schema)
    try:
        return parse_rule(repaired.data, facts.fields)
    except InvalidInput as exc:
        raise GeminiBadAnswer(f"Gemini's rule was invalid twice ({first_error}; then {exc})") from None


def _ask(client: GeminiClient, system: str, turns: list[Turn], schema: dict):
    try:
        return client.generate_json(system, turns, schema)
    except RecursionError:  # an answer nested thousands deep cannot even be decoded
        raise GeminiBadAnswer(f"Gemini's rule is not usable: {TOO_DEEP}") from None


def rule_from_offline(text: str, today: date, facts: DataFacts) -> Proposal:
    reading = parse_text(text, today, facts)
    notes = [f"did not understand: “{bit}”" for bit in reading.not_understood]
    notes += list(reading.readings)
    return Proposal(reading.rule, OFFLINE, tuple(notes))


def propose_rule(
    text: str, today: date, facts: DataFacts, client: GeminiClient | None = None, use_gemini: bool = True
) -> Proposal:
    """A proposed rule for `text`: Gemini's when a client is given (or configured), else offline.

    Gemini failing (quota, timeout, invalid answers) falls back to the offline parser, and the
    proposal's notes say why."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("text", 'describe the audience in words, e.g. "spent over ₹5,000 in Pune"')
    if use_gemini:
        client = client or gemini_client()
    if client is None or not use_gemini:
        return rule_from_offline(text, today, facts)
    try:
        return Proposal(rule_from_gemini(client, text, today, facts), client.model)
    except (GeminiUnavailable, GeminiBadAnswer) as exc:
        offline = rule_from_offline(text, today, facts)
        return Proposal(offline.rule, OFFLINE, (f"Gemini did not help: {exc}", *offline.notes))


def proposal_json(proposal: Proposal) -> str:
    return json.dumps(proposal.rule.to_json() if proposal.rule else None, ensure_ascii=False, indent=2)
