"""Message templates and SMS length: checked when composed, never a blank in a sent message."""

from __future__ import annotations

import re
import time
from collections import Counter
from decimal import Decimal

import pytest

from crm.campaigns.sms_cost import SmsCost
from crm.campaigns.sms_length import sms_length
from crm.campaigns.templating import RenderError, compile_template, render, variant_for
from crm.errors import InvalidInput


def test_unknown_placeholder_is_an_error_that_suggests_the_near_name():
    with pytest.raises(InvalidInput) as err:
        compile_template("Hi {{ frist_name }}", location="template 2")
    assert err.value.location == "template 2"
    assert "unknown placeholder {{ frist_name }}" in err.value.message
    assert "did you mean {{ first_name }}" in err.value.message


@pytest.mark.parametrize("source, line", [("Hi {{ name ", 1), ("Hi\n{% if city %}\n{{ city }}", 3), ("{{ }}", 1)])
def test_syntax_error_names_the_line(source, line):
    with pytest.raises(InvalidInput) as err:
        compile_template(source)
    assert err.value.location == f"message line {line}"


def test_empty_template_is_an_error():
    with pytest.raises(InvalidInput, match="empty"):
        compile_template("   ")


def test_an_empty_value_is_an_error_not_a_blank():
    template = compile_template("Hi {{ name }} from {{ city }}")
    assert render(template, {"name": "Asha Rao", "city": "Pune"}) == "Hi Asha Rao from Pune"
    with pytest.raises(RenderError, match="no value for city"):
        render(template, {"name": "Asha Rao", "city": "  "})
    with pytest.raises(RenderError, match="no value for city, name"):
        render(template, {"name": None, "city": None})


def test_default_fills_an_empty_value_and_if_tests_it():
    template = compile_template('Hi {{ first_name | default("there") }}{% if city %} in {{ city }}{% endif %}!')
    assert template.guarded == {"first_name"}
    assert render(template, {"name": None, "city": None}) == "Hi there!"
    assert render(template, {"name": "Asha Rao", "city": "Pune"}) == "Hi Asha in Pune!"


def test_sandbox_refuses_python_internals():
    template = compile_template("{{ name.__class__.__mro__ }}")
    with pytest.raises(RenderError, match="unsafe"):
        render(template, {"name": "x"})


def test_money_and_dates_render_the_way_people_read_them():
    template = compile_template("{{ total_spend | inr }} since {{ first_order_date }}")
    from datetime import UTC, datetime

    row = {"total_spend": Decimal("123456.5"), "first_order_date": datetime(2024, 3, 1, 10, tzinfo=UTC)}
    assert render(template, row) == "₹1,23,456.50 since 2024-03-01"


@pytest.mark.parametrize(
    "text, encoding, units, segments",
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("₹" * 70, "UCS-2", 70, 1),  # the rupee sign is not in GSM-7
        ("₹" * 71, "UCS-2", 71, 2),
        ("😀" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 units
        ("a" * 134 + "₹", "UCS-2", 135, 3),
    ],
)
def test_sms_segments_follow_gsm7_and_ucs2_limits(text, encoding, units, segments):
    length = sms_length(text)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)


def test_variants_are_stable_and_split_the_audience():
    ids = [f"c{i:04d}" for i in range(2_000)]
    first = [variant_for(c, 2) for c in ids]
    assert first == [variant_for(c, 2) for c in ids]
    shares = Counter(first)
    assert set(shares) == {0, 1} and min(shares.values()) > 800
    assert {variant_for(c, 1) for c in ids} == {0}


NESTED_LOOPS = (
    "{% for a in 'x' * 3000 %}{% for b in 'x' * 3000 %}{% for c in 'x' * 3000 %}{% endfor %}{% endfor %}{% endfor %}"
)


@pytest.mark.parametrize(
    "source, reason",
    [
        (NESTED_LOOPS, "loops take more than 10,000 steps"),
        ("{{ 'x' * 200000000 }}", "repeated 200,000,000 times"),
        ("{% macro again() %}{{ again() }}{% endmacro %}{{ again() }}", "a macro that calls itself"),
        ("{% for i in range(10**9) %}.{% endfor %}", "range() may give at most 100 numbers"),
        ("{% set a = 'x' * 4000 %}{{ a ~ a }}", "longer than 5,000"),
        ("{% set a = 'x' * 4000 %}{{ a + a }}", "longer than 5,000"),
        ("{{ 'x' * 3000 }}{{ 'y' * 3000 }}", "the message is longer than 5,000 characters"),
        ("{{ 10 ** 10 ** 10 }}", "number in the template is too large"),
        ("{{ '%999999999s' % name }}", "% formatting of text is not supported"),
        ("{{ name.ljust(1000000000) }}", "unsafe"),
        ("{{ (range(100)|join(range(100)|join('x' * 4999)))|length }}", "a join would be longer than 5,000"),
        ("{{ name.split(' ')|join('x' * 4999) }}", "a join would be longer than 5,000"),
    ],
)
def test_template_bombs_are_refused_quickly_with_the_reason(source, reason):
    template = compile_template(source)
    started = time.monotonic()
    with pytest.raises(RenderError, match=re.escape(reason)):
        render(template, {"name": "Asha Rao"})
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("name", ["lipsum", "joiner", "cycler", "namespace", "dict"])
def test_jinja_globals_are_unknown_placeholders(name):
    with pytest.raises(InvalidInput, match=re.escape(f"unknown placeholder {{{{ {name} }}}}")):
        compile_template(f"Hi {{{{ {name} }}}}")


def test_filters_outside_the_list_are_unknown():
    with pytest.raises(InvalidInput, match="unknown filter 'center'; available: .*inr"):
        compile_template("{{ name | center(1000000000) }}")


def test_ordinary_templates_still_work_under_the_limits():
    template = compile_template(
        'Hi {{ first_name | default("there") | upper }}{% if city %} in {{ city }}{% endif %}:'
        "{% for tag in tags %} #{{ tag }}{% if not loop.last %},{% endif %}{% endfor %}"
        ' {{ total_spend | inr }} {{ range(3) | join("-") }} {{ "*" * 3 }} {{ name.title() }}'
    )
    row = {"name": "asha rao", "city": "Pune", "tags": ["vip", "new"], "total_spend": Decimal("1500")}
    assert render(template, row) == "Hi ASHA in Pune: #vip, #new ₹1,500.00 0-1-2 *** Asha Rao"
    assert render(compile_template("{{ 'x' * 5000 }}"), {}) == "x" * 5000  # exactly at the limit


def test_sms_cost_says_what_is_billed_and_why_in_words():
    cost = SmsCost()
    for text in ["Hi, “20% off” this weekend " + "x" * 60, "x" * 200, "नमस्ते " * 20, "Hi"]:
        cost.add(text)
    assert cost.sentences(holdout_percent=50) == [
        "4 message(s): about 4 SMS will be billed for the messages sent (the holdout gets none).",
        "1 of 4 messages need 2 SMS each because “ and ” are not in the GSM alphabet (a message with one goes as "
        'Unicode, 70 characters an SMS); write " for “, " for ” to keep them to one.',
        "1 of 4 messages need 2 SMS each: they are longer than 160 characters (153 an SMS once split).",
        "1 of 4 messages need 3 SMS each: they are in Unicode (70 characters an SMS, 67 once split), as messages "
        "in Indian scripts or with emoji always are.",
    ]
    assert cost.billed == 2 + 2 + 3 + 1
