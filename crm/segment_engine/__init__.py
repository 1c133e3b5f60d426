"""Segment engine: rule model, field catalogue, operator table, SQL compiler, English, facts.

rule = parse_rule(json_or_dict)              # InvalidInput naming the place when wrong
compiled = compile_rule(rule, as_of)         # as_of: the evaluation day (UTC)
sql, params = compiled.query("f.customer_id")  # over customer_features AS f
describe_rule(rule)                          # "Customers who spent more than ₹5,000 ..."
"""

from crm.segment_engine.catalogue import FIELDS as CATALOGUE
from crm.segment_engine.compile_sql import CompiledRule, TopLevel, compile_rule, top_level_predicates
from crm.segment_engine.describe import describe_condition, describe_rule
from crm.segment_engine.facts import prompt_facts, rule_json_schema
from crm.segment_engine.features import build_features
from crm.segment_engine.model import Condition, Group, parse_rule
from crm.segment_engine.operators import OPERATORS, operators_for
from crm.segment_engine.schema import create_base_tables, insert_records

__all__ = [
    "CATALOGUE",
    "OPERATORS",
    "CompiledRule",
    "Condition",
    "Group",
    "TopLevel",
    "build_features",
    "compile_rule",
    "create_base_tables",
    "describe_condition",
    "describe_rule",
    "insert_records",
    "operators_for",
    "parse_rule",
    "prompt_facts",
    "rule_json_schema",
    "top_level_predicates",
]
