"""Message variants for a campaign: 2-3 templates with a tone label, from the objective and the
segment in English. Gemini writes them when a key is set; offline, a small library per objective
kind answers. Every variant compiles as a campaign template (known placeholders only) and carries
its SMS length, so the compose page can show both before anyone picks one.

    result = message_variants("win back inactive users", "Customers whose last order ...", "sms")
    result.variants[0].tone, result.variants[0].text, result.engine
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm.ai.client import GeminiBadAnswer, GeminiClient, GeminiUnavailable, Turn, gemini_client
from crm.ai.nl_rules import OFFLINE
from crm.campaigns.channels import channel as get_channel
from crm.campaigns.sms_length import sms_length
from crm.campaigns.templating import FIELDS as TEMPLATE_FIELDS
from crm.campaigns.templating import compile_template, render
from crm.errors import CRMError, InvalidInput

MAX_OBJECTIVE = 500
# A longish customer to measure a rendered message by (names and cities vary in length).
SAMPLE_ROW = {
    "customer_id": "CUST-000001",
    "name": "Aishwarya Venkataraman",
    "city": "Visakhapatnam",
    "total_spend": 125000.5,
    "order_count": 12,
    "avg_order_value": 10416.71,
    "days_since_last_order": 120,
    "age": 34,
    "gender": "female",
    "tags": ["vip"],
    "signup_date": "2024-01-15",
    "last_order_date": "2025-03-02",
    "first_order_date": "2024-01-20",
}

# Objective kinds: words that point to them, and three templates each (tone, text). SMS-friendly:
# GSM-7 characters only ("Rs." rather than the rupee sign, which would halve an SMS).
KINDS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "win-back": (
        r"win ?back|lapsed|inactive|churn|come back|miss(ed)? you|dormant|haven'?t (ordered|bought)",
        (
            (
                "Warm",
                'Hi {{ first_name | default("there") }}, we miss you! Here is 15% off your next order, '
                "valid for 7 days. Come back and see what's new.",
            ),
            (
                "Urgent",
                '{{ first_name | default("Hi") }}, your 15% comeback offer ends in 48 hours. '
                "Don't miss it - shop now!",
            ),
            (
                "Playful",
                'Long time no see, {{ first_name | default("friend") }}! Your cart misses you too. '
                "Take 15% off when you return this week.",
            ),
        ),
    ),
    "welcome": (
        r"welcome|new (customer|user|member|signup)|onboard|first order|just joined|signed up",
        (
            (
                "Friendly",
                'Welcome aboard, {{ first_name | default("friend") }}! Enjoy 10% off your first order '
                "with code WELCOME10.",
            ),
            (
                "Helpful",
                'Hi {{ first_name | default("there") }}, thanks for joining us! Browse bestsellers '
                'picked for {{ city | default("you") }} and save 10% with WELCOME10.',
            ),
            (
                "Premium",
                '{{ first_name | default("Hello") }}, welcome to the family. Your member perks start '
                "today: free delivery on your first order.",
            ),
        ),
    ),
    "upsell": (
        r"upsell|up-sell|cross.?sell|upgrade|premium|bigger basket|spend more|higher value|recommend",
        (
            (
                "Premium",
                '{{ first_name | default("Hi") }}, you have great taste. Our new premium range has '
                "just landed - take a look before it sells out.",
            ),
            (
                "Friendly",
                'Hi {{ first_name | default("there") }}! Add one more item and get free delivery '
                "plus 10% off the whole basket.",
            ),
            (
                "Value",
                '{{ first_name | default("Hi") }}, buy 2 and get the 3rd at half price this week. '
                "Perfect with what you bought last time!",
            ),
        ),
    ),
    "festive": (
        r"diwali|holi|festiv|festival|eid|christmas|new year|navratri|pongal|onam|rakhi|raksha|"
        r"durga|ganesh|sale|season",
        (
            (
                "Festive",
                'Happy festive season, {{ first_name | default("friend") }}! Celebrate with up to 30% '
                "off our festive collection.",
            ),
            (
                "Urgent",
                '{{ first_name | default("Hi") }}, the festive sale ends Sunday! Up to 30% off '
                "- grab your favourites now.",
            ),
            (
                "Warm",
                'Wishing you joy and light, {{ first_name | default("friend") }}. A festive gift from us: '
                "extra 10% off this week.",
            ),
        ),
    ),
    "loyalty": (
        r"loyal|thank|reward|vip|appreciat|points|anniversary|top customer|best customer",
        (
            (
                "Grateful",
                '{{ first_name | default("Hi") }}, thank you for being one of our best customers! '
                "Here is an exclusive 20% off, just for you.",
            ),
            (
                "Premium",
                'You\'re on our VIP list, {{ first_name | default("friend") }}: early access to the '
                "new collection starts today.",
            ),
            (
                "Friendly",
                'Hi {{ first_name | default("there") }}, a little thank-you from us: double reward '
                "points on every order this week.",
            ),
        ),
    ),
    "re-engage": (
        r"re-?engage|engage|remind|cart|browse|app|newsletter|feedback|survey|review",
        (
            (
                "Friendly",
                'Hi {{ first_name | default("there") }}, we\'ve added lots of new arrivals since your '
                "last visit. Take a look!",
            ),
            (
                "Helpful",
                '{{ first_name | default("Hi") }}, tell us what you\'d love to see next - reply to '
                "this message and get 10% off as thanks.",
            ),
            (
                "Urgent",
                '{{ first_name | default("Hi") }}, items you liked are running low. Check them out '
                "before they're gone!",
            ),
        ),
    ),
    "promotion": (
        r".",
        (
            (
                "Friendly",
                'Hi {{ first_name | default("there") }}, something special for you: 10% off everything this week.',
            ),
            ("Urgent", '{{ first_name | default("Hi") }}, 48 hours only: 10% off sitewide. Shop now!'),
            (
                "Premium",
                '{{ first_name | default("Hello") }}, an exclusive offer for our customers in '
                '{{ city | default("your city") }}: 10% off this week.',
            ),
        ),
    ),
}

VARIANTS_SCHEMA = {
    "type": "object",
    "properties": {
        "variants": {
            "type": "array",
            "minItems": 2,
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "tone": {"type": "string", "description": "one or two words, e.g. Friendly"},
                    "text": {"type": "string", "description": "the message template"},
                },
                "required": ["tone", "text"],
            },
        }
    },
    "required": ["variants"],
}


@dataclass(frozen=True)
class Variant:
    tone: str
    text: str  # a template with {{ placeholders }}
    example: str  # rendered for a sample customer
    sms_segments: int
    encoding: str


@dataclass(frozen=True)
class VariantSet:
    variants: tuple[Variant, ...]
    engine: str  # the Gemini model, or "offline"
    kind: str | None = None  # the objective kind the offline library chose
    notes: tuple[str, ...] = ()


def objective_kind(objective: str) -> str:
    text = objective.lower()
    return next(kind for kind, (pattern, _) in KINDS.items() if re.search(pattern, text))


def checked_variant(tone: str, text: str, location: str) -> Variant:
    """A variant whose template compiles (known placeholders only); InvalidInput otherwise."""
    compiled = compile_template(text, location)
    example = render(compiled, SAMPLE_ROW)
    length = sms_length(example)
    return Variant(tone.strip() or "Neutral", text, example, length.segments, length.encoding)


def offline_variants(objective: str) -> VariantSet:
    kind = objective_kind(objective)
    variants = tuple(
        checked_variant(tone, text, f"{kind} template {i + 1}") for i, (tone, text) in enumerate(KINDS[kind][1])
    )
    return VariantSet(variants, OFFLINE, kind)


def variants_prompt(channel: str) -> str:
    sms = get_channel(channel).counts_sms_segments
    limit = (
        "Each message must fit one SMS: at most 160 characters after the placeholders are filled, "
        "using only plain GSM characters (write Rs. rather than the rupee sign, no emoji)."
        if sms
        else "Keep each message under 300 characters."
    )
    return f"""You write short marketing messages for an Indian retailer's CRM campaigns.
Write 2 or 3 variants of the message, each in a different tone, with a one- or two-word tone label.
Messages are templates: personalise only with these placeholders, written as {{{{ name }}}}:
{", ".join(TEMPLATE_FIELDS)}.
A value may be empty for some customers: add a default, e.g. {{{{ first_name | default("there") }}}}.
Money is in rupees. Channel: {channel}. {limit}
Do not invent discount codes, links or prices unless the objective gives them."""


def gemini_variants(client: GeminiClient, objective: str, segment_english: str, channel: str) -> VariantSet:
    user = f"Objective: {objective}\nAudience: {segment_english or 'all customers'}"
    answer = client.generate_json(variants_prompt(channel), [Turn("user", user)], VARIANTS_SCHEMA, temperature=0.7)
    items = answer.data.get("variants") if isinstance(answer.data, dict) else None
    if not isinstance(items, list):
        raise GeminiBadAnswer("Gemini's answer has no list of variants")
    variants, notes = [], []
    for i, item in enumerate(items[:3]):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            notes.append(f"variant {i + 1} dropped: no text")
            continue
        try:
            variants.append(checked_variant(str(item.get("tone") or ""), item["text"], f"variant {i + 1}"))
        except CRMError as exc:
            notes.append(f"variant {i + 1} dropped: {exc}")
    if len(variants) < 2:
        raise GeminiBadAnswer("; ".join(notes) or "Gemini gave fewer than 2 variants")
    return VariantSet(tuple(variants), client.model, None, tuple(notes))


def message_variants(
    objective: str,
    segment_english: str = "",
    channel: str = "sms",
    client: GeminiClient | None = None,
    use_gemini: bool = True,
) -> VariantSet:
    """2-3 checked variants; Gemini's when configured and working, else the offline library's."""
    if not isinstance(objective, str) or not objective.strip():
        raise InvalidInput("objective", 'say what the campaign is for, e.g. "win back inactive customers"')
    if len(objective) > MAX_OBJECTIVE:
        raise InvalidInput("objective", f"at most {MAX_OBJECTIVE} characters, got {len(objective)}")
    get_channel(channel)
    client = (client or gemini_client()) if use_gemini else None
    if client is None:
        return offline_variants(objective)
    try:
        return gemini_variants(client, objective.strip(), segment_english, channel)
    except (GeminiUnavailable, GeminiBadAnswer) as exc:
        offline = offline_variants(objective)
        return VariantSet(offline.variants, OFFLINE, offline.kind, (f"Gemini did not help: {exc}",))
