"""Money parsing and rounding, CSV reading and spreadsheet-safe writing."""

from decimal import Decimal

import pytest

from webapp.csvio import Column, CsvFormatError, read_csv, safe_cell, write_csv
from webapp.money import AmountError, format_amount, money_sum, parse_amount, quantize

WALLET_COLUMNS = [
    Column("wallet_address", ("address", "wallet")),
    Column("chain_id", ("chain",), required=False),
    Column("introduced_date", ("introduced",)),
    Column("notes", required=False),
]


@pytest.mark.parametrize(
    "text, value",
    [
        ("1", Decimal(1)),
        (" 0.5 ", Decimal("0.5")),
        (".25", Decimal("0.25")),
        (
            "12345678901234567890.123456789012345678",
            Decimal("12345678901234567890.123456789012345678"),
        ),
        ("0.000000000000000001", Decimal("1E-18")),
    ],
)
def test_parse_amount_accepts_plain_decimals(text, value):
    assert parse_amount(text) == value


@pytest.mark.parametrize(
    "text, reason",
    [
        ("-1", "negative"),
        ("1e5", "exponent"),
        ("1E-3", "exponent"),
        ("0.0000000000000000001", "more than 18 decimal places"),
        ("123456789012345678901", "more than 20 integer digits"),
        ("1,5", "not a plain decimal"),
        ("NaN", "not a plain decimal"),
        ("", "empty"),
    ],
)
def test_parse_amount_refuses_with_a_reason(text, reason):
    with pytest.raises(AmountError, match=reason):
        parse_amount(text)


def test_format_amount_is_plain_notation():
    assert format_amount(Decimal("1E+3")) == "1000"
    assert format_amount(Decimal("1E-18")) == "0.000000000000000001"
    assert format_amount(Decimal("2.500")) == "2.5"
    assert format_amount(Decimal("0E-18")) == "0"


def test_quantize_rounds_half_to_even_at_the_18th_place():
    assert quantize(Decimal("0.0000000000000000005")) == Decimal("0")
    assert quantize(Decimal("0.0000000000000000015")) == Decimal("0.000000000000000002")
    assert quantize(Decimal("0.0000000000000000025")) == Decimal("0.000000000000000002")


def test_money_sum_keeps_every_digit():
    big = Decimal("99999999999999999999.999999999999999999")
    total = money_sum([big] * 1000)
    assert total == Decimal("99999999999999999999999.999999999999999000")
    assert sum([big] * 1000) != total  # the default context rounds: the reason MONEY exists


def test_csv_header_aliases_bom_crlf_blank_lines_and_quotes():
    data = (
        "\ufeff Address ,CHAIN, Introduced \r\n"
        "\r\n"
        '"abc, quoted",solana,2025-01-01\r\n'
        "def,,2025-02-01\r\n"
    ).encode()
    reader = read_csv(data, WALLET_COLUMNS)
    rows = list(reader)
    assert rows == [
        (
            3,
            {
                "wallet_address": "abc, quoted",
                "chain_id": "solana",
                "introduced_date": "2025-01-01",
            },
        ),
        (4, {"wallet_address": "def", "chain_id": "", "introduced_date": "2025-02-01"}),
    ]
    assert reader.present == ["wallet_address", "chain_id", "introduced_date"]


def test_csv_missing_column_names_it():
    with pytest.raises(CsvFormatError, match="missing column introduced_date"):
        list(read_csv(b"address,chain\nx,y\n", WALLET_COLUMNS))


def test_csv_not_utf8_is_a_clear_error():
    with pytest.raises(CsvFormatError, match="not UTF-8"):
        list(read_csv("address,introduced\nÿ,2025-01-01\n".encode("latin-1"), WALLET_COLUMNS))


def test_csv_empty_file():
    with pytest.raises(CsvFormatError, match="empty"):
        list(read_csv(b"", WALLET_COLUMNS))


@pytest.mark.parametrize("cell", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"])
def test_cells_that_start_a_formula_are_written_as_text(cell):
    assert safe_cell(cell) == "'" + cell


def test_write_csv_escapes_formulas_and_quotes():
    text = write_csv(["partner", "amount"], [['=HYPERLINK("x")', Decimal("1.5")], ["a,b", None]])
    assert text == 'partner,amount\r\n"\'=HYPERLINK(""x"")",1.5\r\n"a,b",\r\n'
