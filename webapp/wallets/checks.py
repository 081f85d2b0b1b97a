"""Checking wallet rows, one by hand or a whole file: the outcome of each row per DOMAIN.md.

A row is `new`, `unchanged` (already this partner's on that chain) or an error naming its
column and reason. The same checks serve the inline form, the upload preview, the commit and
the command line, so every path gives the same messages.
"""

import enum
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select

from webapp.addresses import AddressError, canonical_address
from webapp.csvio import Column
from webapp.extensions import db
from webapp.models import Chain, Partner, PartnerWallet
from webapp.storage import in_batches

#: The columns of a partner wallet file, with the header aliases DOMAIN.md allows.
WALLET_COLUMNS = [
    Column("wallet_address", ("address", "wallet")),
    Column("chain_id", ("chain",), required=False),
    Column("introduced_date", ("introduced",)),
    Column("notes", required=False),
]

NOTES_MAX = 1000
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: SQLite refuses statements with more bound values than this; PostgreSQL takes one array.


class Outcome(enum.StrEnum):
    """What committing a row would do."""

    NEW = "new"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass
class WalletRow:
    """One wallet row as given (trimmed), with its outcome; `column`/`reason` for an error."""

    line: int
    wallet_address: str
    chain_id: str
    introduced_date: str
    notes: str = ""
    outcome: Outcome = Outcome.NEW
    column: str = ""
    reason: str = ""
    parsed_date: date | None = None
    #: The other partner that holds this wallet already, when that is why it is refused.
    claimed_by: str = ""
    #: True when the row passed the checks that need nothing but the file, the chains and
    #: the day (`check_rows`' first part): only the stored wallets can refuse it then.
    passed_own_checks: bool = False

    def refuse(self, column: str, reason: str) -> None:
        """Mark the row as an error, keeping the first reason found."""
        if self.outcome is not Outcome.ERROR:
            self.outcome, self.column, self.reason = Outcome.ERROR, column, reason


@dataclass
class Claim:
    """An existing wallet row that holds a (chain, address)."""

    wallet_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str
    chain_id: str
    wallet_address: str
    introduced_date: date
    is_active: bool


@dataclass
class WalletCheck:
    """Every row of a file (or form) with its outcome, and the counts per outcome."""

    rows: list[WalletRow] = field(default_factory=list)
    #: What the rows' own checks went by (`checked_with`); empty when not known.
    basis: dict = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Rows per outcome, every outcome present (zero when none)."""
        counts = dict.fromkeys((o.value for o in Outcome), 0)
        for row in self.rows:
            counts[row.outcome.value] += 1
        return counts

    @property
    def problems(self) -> list[WalletRow]:
        """The rows refused, in file order."""
        return [row for row in self.rows if row.outcome is Outcome.ERROR]

    @property
    def new_rows(self) -> list[WalletRow]:
        """The rows a commit would add."""
        return [row for row in self.rows if row.outcome is Outcome.NEW]

    @property
    def has_errors(self) -> bool:
        """True when any row is refused (so the file cannot be committed)."""
        return any(row.outcome is Outcome.ERROR for row in self.rows)


def today_utc() -> date:
    """Today's date in UTC: an introduced date after it lies in the future."""
    return datetime.now(UTC).date()


def parse_introduced_date(text: str) -> date:
    """A `YYYY-MM-DD` date that is not in the future; ValueError says what is wrong."""
    text = (text or "").strip()
    if not text:
        raise ValueError("introduced_date is empty: give the day the partner introduced it")
    if not _ISO_DATE.match(text):
        raise ValueError(f"{text!r} is not a date: use YYYY-MM-DD")
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a calendar date") from None
    if value > today_utc():
        raise ValueError(f"{text} is in the future")
    return value


def wallet_key(chain: Chain, address: str) -> tuple[str, str]:
    """The identity of a wallet: its chain and its canonical address (see canonical_address)."""
    return chain.chain_id, address


def load_chains() -> dict[str, Chain]:
    """Every chain by id (a handful of rows, loaded once per check)."""
    return {chain.chain_id: chain for chain in db.session.scalars(select(Chain))}


def checked_with(chains: dict[str, Chain]) -> dict:
    """What a row's own checks depend on besides the file: each chain's address format and
    the day (an introduced date after it is refused). Equal bases give equal outcomes."""
    return {
        "chains": {chain_id: chain.address_format for chain_id, chain in sorted(chains.items())},
        "day": today_utc().isoformat(),
    }


def find_claims(chains: dict[str, Chain], addresses: Iterable[tuple[str, str]]) -> dict:
    """Existing wallets holding any of these (chain_id, canonical address) pairs, by key.

    Stored addresses are canonical, so an equal text is the same wallet. One query on
    PostgreSQL (an array parameter); a few chunked queries on SQLite.
    """
    wanted: set[tuple[str, str]] = set()
    texts: set[str] = set()
    for chain_id, address in addresses:
        wanted.add(wallet_key(chains[chain_id], address))
        texts.add(address)
    if not texts:
        return {}
    stmt = select(
        PartnerWallet.wallet_id,
        PartnerWallet.partner_id,
        Partner.name,
        PartnerWallet.chain_id,
        PartnerWallet.wallet_address,
        PartnerWallet.introduced_date,
        PartnerWallet.is_active,
    ).join(Partner, Partner.partner_id == PartnerWallet.partner_id)
    claims = {}
    for condition in in_batches(db.session, PartnerWallet.wallet_address, sorted(texts)):
        for found in db.session.execute(stmt.where(condition)):
            claim = Claim(*found)
            chain = chains.get(claim.chain_id)
            key = wallet_key(chain, claim.wallet_address) if chain else None
            if key in wanted:
                claims[key] = claim
    return claims


def check_rows(
    partner: Partner, rows: Iterable[tuple[int, dict[str, str]]], default_chain_id: str = ""
) -> WalletCheck:
    """Give every row its outcome: first the row alone, then against earlier rows and the
    wallets already stored (one bulk look-up)."""
    chains = load_chains()
    check = WalletCheck(basis=checked_with(chains))
    first_line: dict[tuple[str, str], int] = {}
    for line, values in rows:
        row = WalletRow(
            line=line,
            wallet_address=values.get("wallet_address", "").strip(),
            chain_id=values.get("chain_id", "").strip() or default_chain_id,
            introduced_date=values.get("introduced_date", "").strip(),
            notes=values.get("notes", "").strip(),
        )
        check.rows.append(row)
        chain = chains.get(row.chain_id)
        if not row.chain_id:
            row.refuse("chain_id", "chain_id is empty: fill it in or pick the chain of the file")
        elif chain is None:
            row.refuse("chain_id", f"unknown chain {row.chain_id!r}")
        else:
            try:
                row.wallet_address = canonical_address(row.wallet_address, chain.address_format)
            except AddressError as exc:
                row.refuse("wallet_address", f"{exc} (for {chain.chain_id})")
            else:
                key = wallet_key(chain, row.wallet_address)
                if key in first_line:
                    row.refuse("wallet_address", f"duplicate of line {first_line[key]}")
                else:
                    first_line[key] = line
        try:
            row.parsed_date = parse_introduced_date(row.introduced_date)
        except ValueError as exc:
            row.refuse("introduced_date", str(exc))
        if len(row.notes) > NOTES_MAX:
            row.refuse("notes", f"notes are longer than {NOTES_MAX} characters")

    for row in check.rows:
        row.passed_own_checks = row.outcome is Outcome.NEW
    check_claims(partner, check, chains)
    return check


def check_claims(partner: Partner, check: WalletCheck, chains: dict[str, Chain]) -> None:
    """Give each row that passed its own checks its outcome against the wallets stored now
    (one bulk look-up): new, already this partner's, or another partner's (refused)."""
    pending = [row for row in check.rows if row.passed_own_checks]
    for row in pending:
        row.outcome, row.column, row.reason, row.claimed_by = Outcome.NEW, "", "", ""
    claims = find_claims(chains, ((row.chain_id, row.wallet_address) for row in pending))
    for row in pending:
        claim = claims.get(wallet_key(chains[row.chain_id], row.wallet_address))
        if claim is None:
            continue
        if claim.partner_id == partner.partner_id:
            row.outcome = Outcome.UNCHANGED
            row.reason = "already this partner's"
        else:
            row.refuse(
                "wallet_address",
                f"already claimed by partner {claim.partner_name} on {claim.chain_id}",
            )
            row.claimed_by = claim.partner_name
