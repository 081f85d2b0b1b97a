"""What the screens call each field, so a message never shows a column name to a user."""

import re
import unicodedata

#: Field and column names as the forms label them.
LABELS = {
    "effective_from": "Effective from",
    "effective_to": "Effective to",
    "introduced_date": "Introduced",
    "wallet_address": "Wallet address",
    "chain_id": "Chain",
    "revenue_component": "Component",
    "validator_key": "Validator",
    "commission_rate_bps": "Rate (bps)",
    "wallet_attribution_enabled": "Wallet attribution",
    "is_active": "Active",
    "partner_id": "Partner",
    "date_from": "From",
    "date_to": "To",
}

_NAMES = re.compile(r"\b(" + "|".join(map(re.escape, LABELS)) + r")\b")


def labelled(text) -> str:
    """`text` with each field name replaced by the label the user sees."""
    if text is None:
        return ""
    return _NAMES.sub(lambda match: LABELS[match.group(1)], str(text))


def format_count(value) -> str:
    """A count with thousands separators (10,024), as every screen shows counts."""
    return "" if value is None else f"{int(value):,}"


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by dashes, for file names."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "partner"
