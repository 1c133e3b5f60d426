"""Segment engine: rule model, field catalogue, operator table, SQL compiler, English, facts.

    rule = parse_rule(json_or_dict)                  # InvalidInput naming the place when wrong
    compiled = compile_rule(rule, as_of=date.today())
    sql, params = compiled.query("f.customer_id")    # over customer_features AS f
"""

from crm.segment_engine.catalogue import FIELDS as CATALOGUE
from crm.segment_engine.compile_sql import CompiledRule, compile_rule, top_level_predicates
from crm.segment_engine.describe import describe_rule
from crm.segment_engine.facts import builder_fields, prompt_facts, rule_json_schema
from crm.segment_engine.features import build_features
from crm.segment_engine.model import Condition, Group, parse_rule
from crm.segment_engine.operators import OPERATORS, operators_for
from crm.segment_engine.schema import create_base_tables, insert_records

__all__ = [
    "CATALOGUE", "OPERATORS", "CompiledRule", "Condition", "Group", "build_features", "describe_rule",
    "compile_rule", "create_base_tables", "insert_records", "builder_fields", "operators_for", "parse_rule", "prompt_facts", "rule_json_schema",
    "top_level_predicates",
]
