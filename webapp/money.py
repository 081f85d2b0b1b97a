"""Exact money arithmetic: parsing, formatting and rounding of token amounts.

Amounts are `Decimal` everywhere. Python's default context keeps 28 significant digits,
which silently rounds a large sum; `MONEY` keeps every digit of NUMERIC(38,18) and of a
sum of many millions of them, and traps any inexact result instead of rounding it.
"""

import decimal
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

#: Digits after the decimal point that an amount may carry (NUMERIC(38,18)).
SCALE = 18
#: Digits before the decimal point that an amount may carry (NUMERIC(38,18)).
INTEGER_DIGITS = 38 - SCALE
QUANTUM = Decimal(1).scaleb(-SCALE)
ZERO = Decimal(0)

#: Wide enough for a sum of 10**20 amounts of NUMERIC(38,18) with no digit lost.
MONEY = decimal.Context(
    prec=80,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)

#: The same width, for the one deliberate rounding: a line to 18 places, half to even.
ROUNDING = decimal.Context(
    prec=80, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation]
)

# ASCII digits only: `\d` would also take Arabic-Indic or full-width digits (`٣٤٥`, `１２`).
_PLAIN_DECIMAL = re.compile(r"^([0-9]+)(?:\.([0-9]*))?$|^\.([0-9]+)$")
_WHOLE_NUMBER = re.compile(r"^[0-9]+$")
#: The common case, taken without the checks below: ASCII digits only, at most INTEGER_DIGITS
#: before the point and 1 to SCALE after it, nothing else (one regex call per amount).
plain_amount = re.compile(rf"[0-9]{{1,{INTEGER_DIGITS}}}(?:\.[0-9]{{1,{SCALE}}})?").fullmatch


class AmountError(ValueError):
    """An amount that is not a plain, non-negative decimal of at most 18 places."""


def parse_amount(text: str) -> Decimal:
    """Parse a plain decimal token amount; refuse exponents, signs, and over 18 places."""
    if text and plain_amount(text):
        return Decimal(text)  # exact: constructing from a string never rounds
    raw = (text or "").strip()
    if not raw:
        raise AmountError("amount is empty")
    if raw.startswith("-"):
        raise AmountError(f"amount {raw!r} is negative")
    if raw.startswith("+"):
        raw = raw[1:]
    match = _PLAIN_DECIMAL.match(raw)
    if not match:
        if "e" in raw.lower():
            raise AmountError(f"amount {text.strip()!r} uses exponent notation")
        raise AmountError(f"amount {text.strip()!r} is not a plain decimal number")
    integer, fraction = (match.group(1) or "0"), (match.group(2) or match.group(3) or "")
    if len(fraction) > SCALE:
        raise AmountError(f"amount {text.strip()!r} has more than {SCALE} decimal places")
    if len(integer.lstrip("0")) > INTEGER_DIGITS:
        raise AmountError(f"amount {text.strip()!r} has more than {INTEGER_DIGITS} integer digits")
    return Decimal(f"{integer}.{fraction}" if fraction else integer)


def is_whole_number(text: str | None) -> bool:
    """True for a plain whole number written in ASCII digits (`12`, not `１２` or `+12`)."""
    return bool(_WHOLE_NUMBER.match((text or "").strip()))


def ascii_whole_number(form, field) -> None:
    """WTForms validator: the field was typed as ASCII digits (IntegerField takes any digits)."""
    from wtforms.validators import ValidationError

    raw = (field.raw_data or [""])[0]
    if raw and not is_whole_number(raw):
        raise ValidationError("Give a whole number in the digits 0 to 9.")


def format_amount(value: Decimal | None) -> str:
    """Plain decimal notation, no exponent, no trailing zeros after the point."""
    if value is None:
        return ""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def quantize(value: Decimal) -> Decimal:
    """Round to 18 decimal places, half to even (the rounding of a commission line)."""
    return value.quantize(QUANTUM, context=ROUNDING)


def money_sum(values) -> Decimal:
    """Exact sum of decimals in the wide money context."""
    total = ZERO
    add = MONEY.add
    for value in values:
        total = add(total, value)
    return total


# ---- Display (pages only; files always carry the exact value) ------------------------------


def exact_text(value: Decimal) -> str:
    """The exact value with all 18 decimal places, as the hover of a displayed amount shows it."""
    return format(value.quantize(QUANTUM, context=ROUNDING), "f")


#: The sign a negative amount shows (U+2212 MINUS SIGN: as wide as a digit, unlike a hyphen).
MINUS = "\u2212"


def display_text(value: Decimal, display_decimals: int) -> str:
    """`value` rounded (half to even, on Decimal) to `display_decimals` places, with thousands
    separators and a minus sign (U+2212) before a negative: for reading on a page only, never
    for a sum or a file. A tiny negative that rounds to zero shows as 0, not as -0."""
    places = max(0, min(int(display_decimals), SCALE))
    rounded = value.quantize(Decimal(1).scaleb(-places), context=ROUNDING)
    if rounded.is_zero():
        rounded = abs(rounded)
    # Already rounded: the format only groups the digits (as the English locale does, a comma
    # every three), exactly and an order of magnitude faster than a locale's number pattern,
    # which matters on a page of hundreds of amounts served by threads sharing one core.
    # The format reads the current decimal context: the wide one keeps all 38 digits.
    with decimal.localcontext(ROUNDING):
        text = format(abs(rounded), f",.{places}f")
    return f"{MINUS}{text}" if rounded < 0 else text


class Unit(str):
    """A token symbol that carries its chain's display decimals: it reads as the symbol
    (`{{ unit }}` shows "SOL") and the amount filter rounds to its decimals."""

    display_decimals: int

    def __new__(cls, symbol: str, display_decimals: int = SCALE):
        unit = super().__new__(cls, symbol)
        unit.display_decimals = display_decimals
        return unit

    @property
    def token_symbol(self) -> str:
        return str(self)


def unit_of(chain) -> Unit:
    """The unit amounts of `chain` are shown in: its token symbol and display decimals."""
    return Unit(chain.token_symbol, chain.display_decimals)


def totals_by_token(rows) -> dict[str, list]:
    """The one per-token sum: rows of (token_symbol, figures) added up figure by figure, one
    list of sums per symbol, in order of first sight. A figure is a count (int, added as
    such) or an amount (added exactly; None adds nothing); amounts of different tokens are
    never added together."""
    totals: dict[str, list] = {}
    add = MONEY.add
    for symbol, figures in rows:
        sums = totals.get(symbol)
        if sums is None:
            sums = totals[symbol] = [0 if isinstance(f, int) else ZERO for f in figures]
        for n, figure in enumerate(figures):
            if figure is None:
                continue
            sums[n] = sums[n] + figure if isinstance(figure, int) else add(sums[n], figure)
    return totals


def price_day(end_time: datetime) -> date:
    """The UTC day whose price values a period ending at `end_time` (exclusive end): the day
    of its last instant, `end_time` minus one microsecond."""
    if end_time.tzinfo is not None:
        end_time = end_time.astimezone(UTC)
    return (end_time - timedelta(microseconds=1)).date()
