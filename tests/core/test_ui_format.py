"""Indian number formatting: lakh/crore grouping, exact rupees from paise."""

import pytest

from crm.formats.indian_numbers import format_count, format_inr, format_inr_short, group_indian


@pytest.mark.parametrize(
    "number, text",
    [
        (0, "0"),
        (999, "999"),
        (1_000, "1,000"),
        (99_999, "99,999"),
        (1_00_000, "1,00,000"),
        (12_34_567, "12,34,567"),
        (1_23_45_67_890, "1,23,45,67,890"),
        (-12_34_567, "-12,34,567"),
    ],
)
def test_groups_digits_the_indian_way(number, text):
    assert group_indian(number) == text
    assert format_count(number) == text


@pytest.mark.parametrize(
    "paise, text",
    [
        (0, "₹0.00"),
        (99, "₹0.99"),
        (129_950, "₹1,299.50"),
        (12_345_678_901, "₹12,34,56,789.01"),
        (-150, "-₹1.50"),
    ],
)
def test_rupees_from_paise_are_exact(paise, text):
    assert format_inr(paise) == text


def test_whole_rupees_round_half_up():
    assert format_inr(129_950, decimals=False) == "₹1,300"
    assert format_inr(129_949, decimals=False) == "₹1,299"


@pytest.mark.parametrize(
    "paise, text",
    [
        (845_000, "₹8,450"),
        (12_34_567_00, "₹12.35 L"),
        (4_47_00_000_00, "₹4.47 Cr"),
        (1_234_56_78_900_00, "₹1,234.57 Cr"),
    ],
)
def test_large_sums_in_lakh_and_crore(paise, text):
    assert format_inr_short(paise) == text
