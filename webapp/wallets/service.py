"""A partner's wallets: the filtered, keyset-paginated list, one-by-one and bulk changes, the
export.

Every change goes to the audit log with the values before and after. Wallets are never
deleted here: a wallet is deactivated, and can be reactivated.
"""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from webapp import audit
from webapp.csvio import iter_csv
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.labels import slugify
from webapp.models import Partner, PartnerWallet, utcnow
from webapp.storage import is_postgresql
from webapp.wallets.checks import (
    NOTES_MAX,
    Outcome,
    check_rows,
    parse_introduced_date,
    today_utc,
)

FIELDS = ("partner_id", "chain_id", "wallet_address", "introduced_date", "is_active", "notes")
EXPORT_HEADER = ("wallet_address", "chain_id", "introduced_date", "is_active", "notes")
STATUSES = ("all", "active", "inactive")
SORTS = ("introduced", "address")


@dataclass
class WalletFilters:
    """What the wallet list shows: chain, status, address search, sort order."""

    chain_id: str = ""
    status: str = "all"
    q: str = ""
    sort: str = "introduced"

    @classmethod
    def from_args(cls, args) -> "WalletFilters":
        """Read the filters from query arguments, ignoring values that are not allowed."""
        status = args.get("status", "all")
        sort = args.get("sort", "introduced")
        return cls(
            chain_id=(args.get("chain") or "").strip(),
            status=status if status in STATUSES else "all",
            q=(args.get("q") or "").strip()[:100],
            sort=sort if sort in SORTS else "introduced",
        )

    def as_args(self) -> dict[str, str]:
        """The filters as query arguments, defaults left out (for url_for)."""
        args = {"chain": self.chain_id, "q": self.q}
        if self.status != "all":
            args["status"] = self.status
        if self.sort != "introduced":
            args["sort"] = self.sort
        return {key: value for key, value in args.items() if value}

    @property
    def narrowed(self) -> bool:
        """True when a filter or search hides some wallets."""
        return bool(self.chain_id or self.q or self.status != "all")


@dataclass
class WalletPage:
    """One page of the list, the total matching the filters, and cursors to move on."""

    wallets: list[PartnerWallet] = field(default_factory=list)
    total: int = 0
    next_cursor: str = ""
    prev_cursor: str = ""


def _filtered(partner: Partner, filters: WalletFilters):
    stmt = select(PartnerWallet).where(PartnerWallet.partner_id == partner.partner_id)
    if filters.chain_id:
        stmt = stmt.where(PartnerWallet.chain_id == filters.chain_id)
    if filters.status != "all":
        stmt = stmt.where(PartnerWallet.is_active.is_(filters.status == "active"))
    if filters.q:
        # Any case, as ILIKE, but by LIKE over the lowered address (addresses are ASCII):
        # ILIKE was 80 ms against 48 over 100,000 wallets (bench/bench_wallets.py). On
        # PostgreSQL the address is lowered under "C", byte by byte, instead of through the
        # database's locale (C.UTF-8 lowers each character as a wide one): the same for
        # ASCII, and half the time (the count over 100,000 wallets: 83 ms against 44).
        escaped = re.sub(r"([\\%_])", r"\\\1", filters.q.lower())
        address = PartnerWallet.wallet_address
        if is_postgresql(db.session):
            address = address.collate("C")
        stmt = stmt.where(func.lower(address).like(f"%{escaped}%", escape="\\"))
    return stmt


def _sort_columns(filters: WalletFilters):
    """Columns of the keyset, and whether the list runs newest first."""
    if filters.sort == "address":
        return (PartnerWallet.wallet_address, PartnerWallet.wallet_id), False
    return (PartnerWallet.introduced_date, PartnerWallet.wallet_id), True


def _list_order(filters: WalletFilters, reverse: bool = False) -> list:
    """ORDER BY of the list (or its reverse, to read the page before a cursor)."""
    columns, newest_first = _sort_columns(filters)
    descending = newest_first != reverse
    return [c.desc() if descending else c.asc() for c in columns]


def _cursor_of(wallet: PartnerWallet, filters: WalletFilters) -> str:
    key = wallet.wallet_address if filters.sort == "address" else wallet.introduced_date.isoformat()
    return f"{key}|{wallet.wallet_id}"


def _parse_cursor(cursor: str, filters: WalletFilters):
    try:
        key, wallet_id = cursor.rsplit("|", 1)
        wallet_id = uuid.UUID(wallet_id)
        return (key if filters.sort == "address" else date.fromisoformat(key)), wallet_id
    except ValueError:
        return None


def list_wallets(
    partner: Partner, filters: WalletFilters, after: str = "", before: str = "", size: int = 50
) -> WalletPage:
    """A page of the partner's wallets by keyset (no OFFSET), plus one count query."""
    stmt = _filtered(partner, filters)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    columns, newest_first = _sort_columns(filters)
    keyset = tuple_(*columns)
    after_key = _parse_cursor(after, filters) if after else None
    before_key = _parse_cursor(before, filters) if before and not after_key else None

    if before_key:
        bound = keyset > before_key if newest_first else keyset < before_key
        backward = stmt.where(bound).order_by(*_list_order(filters, reverse=True))
        rows = list(db.session.scalars(backward.limit(size + 1)))
        has_prev, has_next = len(rows) > size, True
        wallets = list(reversed(rows[:size]))
    else:
        if after_key:
            bound = keyset < after_key if newest_first else keyset > after_key
            stmt = stmt.where(bound)
        rows = list(db.session.scalars(stmt.order_by(*_list_order(filters)).limit(size + 1)))
        has_prev, has_next = after_key is not None, len(rows) > size
        wallets = rows[:size]
    page = WalletPage(wallets=wallets, total=total)
    if wallets and has_next:
        page.next_cursor = _cursor_of(wallets[-1], filters)
    if wallets and has_prev:
        page.prev_cursor = _cursor_of(wallets[0], filters)
    return page


def check_new_wallet(
    partner: Partner, chain_id: str, wallet_address: str, introduced_date: str, notes: str = ""
):
    """The outcome of adding one wallet by hand: the same checks and messages as a file row."""
    values = {
        "chain_id": chain_id or "",
        "wallet_address": wallet_address or "",
        "introduced_date": introduced_date or "",
        "notes": notes or "",
    }
    return check_rows(partner, [(0, values)]).rows[0]


def add_wallet(
    partner: Partner,
    chain_id: str,
    wallet_address: str,
    introduced_date: str,
    notes: str = "",
    user=None,
) -> PartnerWallet:
    """Add one wallet to the partner; FieldError names the field at fault."""
    row = check_new_wallet(partner, chain_id, wallet_address, introduced_date, notes)
    if row.outcome is Outcome.UNCHANGED:
        raise FieldError(f"this wallet is {row.reason} on {row.chain_id}", "wallet_address")
    if row.outcome is Outcome.ERROR:
        raise FieldError(row.reason, row.column)
    wallet = PartnerWallet(
        partner_id=partner.partner_id,
        chain_id=row.chain_id,
        wallet_address=row.wallet_address,
        introduced_date=row.parsed_date,
        notes=row.notes or None,
        is_active=True,
    )
    db.session.add(wallet)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise FieldError(_lost_race_message(partner, row), "wallet_address") from None
    audit.record(
        "create",
        "partner_wallet",
        wallet.wallet_id,
        after=audit.snapshot(wallet, FIELDS),
        user=user,
    )
    db.session.commit()
    return wallet


def _lost_race_message(partner: Partner, row) -> str:
    """Who stored this wallet between our check and our insert, as far as it can be told."""
    again = check_new_wallet(partner, row.chain_id, row.wallet_address, row.introduced_date)
    if again.outcome is Outcome.UNCHANGED:
        return f"this wallet is {again.reason} on {row.chain_id}"
    if again.column == "wallet_address" and again.reason.startswith("already claimed"):
        return f"wallet {row.wallet_address} was just {again.reason.removeprefix('already ')}"
    return (
        f"wallet {row.wallet_address} on {row.chain_id} was claimed by someone else "
        "a moment ago: check it again"
    )


def update_wallet(wallet: PartnerWallet, introduced_date: str, notes: str, user=None):
    """Change a wallet's introduced date and notes (its address and chain never change)."""
    try:
        new_date = parse_introduced_date(introduced_date)
    except ValueError as exc:
        raise FieldError(str(exc), "introduced_date") from None
    notes = (notes or "").strip()
    if len(notes) > NOTES_MAX:
        raise FieldError(f"notes are longer than {NOTES_MAX} characters", "notes")
    before = audit.snapshot(wallet, FIELDS)
    wallet.introduced_date = new_date
    wallet.notes = notes or None
    after = audit.snapshot(wallet, FIELDS)
    if after != before:
        audit.record("update", "partner_wallet", wallet.wallet_id, before, after, user=user)
        db.session.commit()
    return wallet


def set_wallet_active(wallet: PartnerWallet, active: bool, user=None) -> PartnerWallet:
    """Deactivate or reactivate a wallet (a soft delete: the row and its claim stay)."""
    if wallet.is_active == active:
        return wallet
    before = audit.snapshot(wallet, FIELDS)
    wallet.is_active = active
    action = "reactivate" if active else "deactivate"
    audit.record(
        action,
        "partner_wallet",
        wallet.wallet_id,
        before,
        audit.snapshot(wallet, FIELDS),
        user=user,
    )
    db.session.commit()
    return wallet


def export_file_name(partner: Partner) -> str:
    """`wallets-<partner>-<YYYY-MM-DD>.csv`."""
    return f"wallets-{slugify(partner.name)}-{today_utc().isoformat()}.csv"


def export_rows(partner: Partner, filters: WalletFilters) -> Iterator[str]:
    """The partner's wallets under the filters as CSV text chunks, safe for spreadsheets.

    A generator: the query runs when the first chunk is asked for, so that a streamed
    response reads the rows inside its own (re-pushed) context.
    """
    stmt = _filtered(partner, filters).order_by(*_list_order(filters))
    stmt = stmt.execution_options(yield_per=2000)
    wallets = db.session.scalars(stmt)
    yield from iter_csv(
        EXPORT_HEADER,
        (
            (
                w.wallet_address,
                w.chain_id,
                w.introduced_date.isoformat(),
                "true" if w.is_active else "false",
                w.notes or "",
            )
            for w in wallets
        ),
    )


#: Wallets one bulk action may name (a page of the list is far fewer).
BULK_LIMIT = 1000


class BulkError(ValueError):
    """A bulk action refused as a whole: nothing was changed."""


def selected_wallets(partner: Partner, wallet_ids) -> list[PartnerWallet]:
    """The partner's wallets of `wallet_ids`, in the list's address order, read in one query;
    BulkError when none is chosen, too many are, or one is not this partner's."""
    try:
        ids = list(dict.fromkeys(uuid.UUID(str(value)) for value in wallet_ids))
    except ValueError:
        raise BulkError("the selection names a wallet that does not exist") from None
    if not ids:
        raise BulkError("choose at least one wallet")
    if len(ids) > BULK_LIMIT:
        raise BulkError(f"choose at most {BULK_LIMIT:,} wallets at a time")
    wallets = list(
        db.session.scalars(
            select(PartnerWallet)
            .where(PartnerWallet.partner_id == partner.partner_id)
            .where(PartnerWallet.wallet_id.in_(ids))
            .order_by(PartnerWallet.wallet_address, PartnerWallet.wallet_id)
        )
    )
    if len(wallets) != len(ids):
        missing = len(ids) - len(wallets)
        raise BulkError(f"{missing} of the chosen wallets are not {partner.name}'s")
    return wallets


def set_wallets_active(partner: Partner, wallet_ids, active: bool, user=None) -> int:
    """Deactivate or reactivate several of the partner's wallets at once, all or none: the
    set is read in one query and changed in one UPDATE, with an audit entry per wallet
    changed (as `set_wallet_active` writes). Returns how many changed."""
    wallets = selected_wallets(partner, wallet_ids)
    changing = [w for w in wallets if w.is_active != active]
    if not changing:
        return 0
    action = "reactivate" if active else "deactivate"
    for wallet in changing:
        before = audit.snapshot(wallet, FIELDS)
        after = {**before, "is_active": active}
        audit.record(action, "partner_wallet", wallet.wallet_id, before, after, user=user)
    result = db.session.execute(
        update(PartnerWallet)
        .where(PartnerWallet.wallet_id.in_([w.wallet_id for w in changing]))
        .where(PartnerWallet.is_active.is_(not active))
        .values(is_active=active, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != len(changing):
        # Someone changed one of them since it was read: nothing of this action is kept.
        db.session.rollback()
        raise BulkError("some of the chosen wallets changed a moment ago: check them again")
    db.session.commit()
    return len(changing)


def selected_rows(wallets: list[PartnerWallet]) -> Iterator[tuple]:
    """Rows of `EXPORT_HEADER` for chosen wallets (the export's columns)."""
    for w in wallets:
        yield (
            w.wallet_address,
            w.chain_id,
            w.introduced_date.isoformat(),
            "true" if w.is_active else "false",
            w.notes or "",
        )
