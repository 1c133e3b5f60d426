"""The message-variants panel (AppTest): variants with tone, SMS length and engine; "Use" puts one
in the message box and "Use all" makes them the variants, where they can be edited."""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest


def compose_script():
    import streamlit as st

    from crm.ui.message_variants import message_variants_panel

    objective = st.text_input("Objective", key="objective")
    message_variants_panel(
        objective,
        "Customers whose last order was more than 90 days ago",
        "sms",
        template_key="message_{}",
        count_key="how_many",
    )
    how_many = st.number_input("Message variants", 1, 3, 1, key="how_many")
    for i in range(int(how_many)):
        st.text_area(f"Message {i + 1}", "Hi there" if i == 0 else "", key=f"message_{i}")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    for key in list(os.environ):
        if key.startswith(("GOOGLE_", "GEMINI_", "CRM_GEMINI_")):
            monkeypatch.delenv(key)


def suggested(objective: str) -> AppTest:
    at = AppTest.from_function(compose_script, default_timeout=60).run()
    at.text_input(key="objective").input(objective)
    at.button(key="variants-suggest").click()
    at.run()
    assert not at.exception and not at.error
    return at


def test_variants_are_offered_with_tone_length_and_engine_and_one_can_be_used_and_edited():
    at = suggested("win back inactive users")
    assert "Answered offline (the built-in parser) · template kind: win-back" in [c.value for c in at.caption]
    assert [m.value for m in at.markdown] == ["**Warm**", "**Urgent**", "**Playful**"]
    assert sum("1 SMS segment (GSM-7)" in c.value for c in at.caption) == 3
    assert at.text_area(key="message_0").value == "Hi there"  # nothing chosen yet
    at.button(key="variant-use-1").click()
    at.run()
    chosen = at.text_area(key="message_0").value
    assert chosen == at.code[1].value and "comeback offer" in chosen
    at.text_area(key="message_0").input(chosen + " T&C apply.")
    at.run()
    assert at.text_area(key="message_0").value.endswith("T&C apply.")


def test_use_all_makes_every_variant_a_message_box():
    at = suggested("Diwali sale")
    at.button(key="variant-use-all").click()
    at.run()
    assert not at.exception
    assert [at.text_area(key=f"message_{i}").value for i in range(3)] == [c.value for c in at.code]


def test_an_empty_objective_says_what_to_write():
    at = AppTest.from_function(compose_script, default_timeout=60).run()
    at.button(key="variants-suggest").click()
    at.run()
    assert any("objective" in e.value for e in at.error)
