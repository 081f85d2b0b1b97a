"""Amounts on pages: rounded on Decimal for display, with separators and the token symbol,
the exact 18-place value in the title and on focus; totals per token."""

from decimal import Decimal

from webapp.money import display_text, exact_text, totals_by_token
from webapp.web import token_amount


def test_display_rounds_on_decimal_half_to_even_with_separators():
    assert display_text(Decimal("1234567.123456789123456789"), 4) == "1,234,567.1235"
    assert display_text(Decimal("0.00005"), 4) == "0.0000"  # half to even
    assert display_text(Decimal("0.00015"), 4) == "0.0002"
    assert display_text(Decimal("-1234.5"), 0) == "-1,234"
    assert display_text(Decimal("-0.00001"), 4) == "0.0000"  # never "-0.0000"
    # 25 significant digits: a float would have lost the last ones.
    assert display_text(Decimal("2499999999999999999.9875"), 18) == (
        "2,499,999,999,999,999,999.987500000000000000"
    )


def test_exact_text_has_all_18_places():
    assert exact_text(Decimal("6.7")) == "6.700000000000000000"
    assert exact_text(Decimal("-0.000000000000000001")) == "-0.000000000000000001"


def test_filter_shows_symbol_and_keeps_exact_value_in_title_and_on_focus(app):
    class Chain:
        token_symbol, display_decimals = "SOL", 2

    html = str(token_amount(Decimal("1234.5678"), Chain()))
    assert 'title="1234.567800000000000000 SOL"' in html
    assert 'tabindex="0"' in html
    assert ">1,234.57 SOL<" in html
    assert "(exactly 1234.567800000000000000 SOL)" in html
    assert str(token_amount(None, Chain())) == "—"
    assert ">0.0 ETH<" in str(token_amount(Decimal("0.05"), "ETH", 1))  # half to even
    assert 'title="&lt;b&gt;' not in str(token_amount(Decimal(1), "<b>", 0))  # escaped


def test_totals_by_token_never_adds_two_tokens():
    pairs = [
        ("SOL", Decimal("1.5")),
        ("ETH", Decimal("2")),
        ("SOL", Decimal("0.25")),
        ("ETH", None),
    ]
    assert totals_by_token(pairs) == {"SOL": Decimal("1.75"), "ETH": Decimal("2")}
    assert list(totals_by_token(pairs)) == ["SOL", "ETH"]
