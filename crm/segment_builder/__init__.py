"""The segment builder: the rule-builder widget's config and its tree <-> our rule JSON.

config = builder_config(value_choices(cursor))   # fields, types, operators from the catalogue
tree = rule_to_tree(rule, offered=config_fields)  # to show a saved rule in the widget
group = rule_from_tree(st.session_state[key])     # InvalidInput naming what to fix
"""

from crm.segment_builder.tree import rule_from_tree, rule_to_tree, tree_to_rule
from crm.segment_builder.widget_config import builder_config

__all__ = ["builder_config", "rule_from_tree", "rule_to_tree", "tree_to_rule"]
