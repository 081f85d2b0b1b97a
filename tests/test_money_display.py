"""Amounts on pages: rounded on Decimal for display, with separators and the token symbol,
the exact 18-place value in the title and on focus; totals per token."""

from decimal import Decimal

from webapp.money import Unit, display_text, exact_text, totals_by_token
from webapp.web import token_amount, token_amount_text


def test_display_rounds_on_decimal_half_to_even_with_separators():
    assert display_text(Decimal("1234567.123456789123456789"), 4) == "1,234,567.1235"
    assert display_text(Decimal("0.00005"), 4) == "0.0000"  # half to even
    assert display_text(Decimal("0.00015"), 4) == "0.0002"
    assert display_text(Decimal("-1234.5"), 0) == "\u22121,234"
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
    assert "tabindex" not in html  # an amount in a table is no tab stop
    assert 'tabindex="0"' in str(token_amount(Decimal("1"), Chain(), headline=True))
    assert ">1,234.57 SOL<" in html
    assert "(exactly 1234.567800000000000000 SOL)" in html
    assert str(token_amount(None, Chain())) == "—"
    assert ">0.0 ETH<" in str(token_amount(Decimal("0.05"), "ETH", 1))  # half to even
    assert 'title="&lt;b&gt;' not in str(token_amount(Decimal(1), "<b>", 0))  # escaped


def test_totals_by_token_never_adds_two_tokens():
    rows = [
        ("SOL", (2, Decimal("1.5"))),
        ("ETH", (1, Decimal("2"))),
        ("SOL", (1, Decimal("0.25"))),
        ("ETH", (0, None)),
        ("SOL", (3, Decimal("0.000000000000000001"))),
    ]
    assert totals_by_token(rows) == {
        "SOL": [6, Decimal("1.750000000000000001")],
        "ETH": [1, Decimal("2")],
    }
    assert list(totals_by_token(rows)) == ["SOL", "ETH"]
    assert isinstance(totals_by_token(rows)["SOL"][0], int)


# ---- The one formatter of amounts on pages: expected strings written by hand ---------------


class Sol:
    token_symbol, display_decimals = "SOL", 9


class Eth:
    token_symbol, display_decimals = "ETH", 18


def test_formatter_groups_thousands_and_rounds_to_the_chains_display_decimals():
    html = str(token_amount(Decimal("1234567.0107033519431537"), Sol()))
    assert ">1,234,567.010703352 SOL<" in html
    assert str(token_amount(Decimal("999.5"), "BTC", 0)).count(">1,000 BTC<") == 1
    # A Unit (what insight pages pass as `unit`) carries the chain's decimals as Sol() does.
    assert ">1,234,567.010703352 SOL<" in str(
        token_amount(Decimal("1234567.0107033519431537"), Unit("SOL", 9))
    )
    assert str(Unit("SOL", 9)) == "SOL"


def test_formatter_keeps_the_exact_value_for_hover_focus_and_copy():
    html = str(token_amount(Decimal("0.0107033519431537"), Sol()))
    assert html.startswith('<data class="amount" value="0.010703351943153700" title=')
    assert 'title="0.010703351943153700 SOL"' in html
    assert ">0.010703352 SOL<" in html
    assert '<span class="amount-exact"> (exactly 0.010703351943153700 SOL)</span></data>' in html


def test_formatter_shows_a_negative_sign_that_is_seen():
    html = str(token_amount(Decimal("-1234.5678"), Sol()))
    assert 'class="amount negative"' in html
    assert ">\u22121,234.567800000 SOL<" in html
    assert 'value="-1234.567800000000000000"' in html  # the copy keeps a plain minus
    assert ">+1,234.567800000 SOL<" in str(token_amount(Decimal("1234.5678"), Sol(), signed=True))
    assert token_amount_text(Decimal("-2"), "ETH", 2) == "\u22122.00 ETH"


def test_formatter_zero_is_shown_with_its_decimals_and_no_sign():
    html = str(token_amount(Decimal("0"), Sol()))
    assert 'class="amount"' in html
    assert ">0.000000000 SOL<" in html
    assert 'value="0.000000000000000000"' in html
    assert ">0.000000000 SOL<" in str(token_amount(Decimal("-0.0000000001"), Sol()))


def test_formatter_very_large_amount_keeps_every_digit():
    value = Decimal("99999999999999999999.999999999999999999")  # NUMERIC(38,18) at its widest
    html = str(token_amount(value, Eth()))
    assert ">99,999,999,999,999,999,999.999999999999999999 ETH<" in html
    assert ">100,000,000,000,000,000,000 BTC<" in str(token_amount(value, "BTC", 0))


def test_formatter_18_places():
    html = str(token_amount(Decimal("0.032833098216757723"), Eth()))
    assert ">0.032833098216757723 ETH<" in html
    assert token_amount_text(Decimal("1.000000000000000001"), Eth()) == "1.000000000000000001 ETH"
