"""AI helpers: a sentence -> a segment rule, an objective -> message variants.

Gemini (google-genai) answers when GEMINI_API_KEY is set; otherwise, or when it fails, the offline
parser and template library do. Every answer names the engine that produced it.

    proposal = propose_rule(text, as_of, current_data_facts())   # .rule, .engine, .notes
    variants = message_variants(objective, describe_rule(rule), "sms")
"""

from crm.ai.facts import DataFacts, current_data_facts, data_facts
from crm.ai.nl_rules import OFFLINE, Proposal, propose_rule
from crm.ai.variants import Variant, VariantSet, message_variants

__all__ = [
    "OFFLINE",
    "DataFacts",
    "Proposal",
    "Variant",
    "VariantSet",
    "current_data_facts",
    "data_facts",
    "message_variants",
    "propose_rule",
]
