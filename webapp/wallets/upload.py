"""Wallet files: read, check, keep between preview and commit, and commit all or nothing.

The uploaded bytes are kept under `instance/wallet-uploads/` named by a random token, with their
SHA-256 and the preview's outcome per row beside them. A commit reads the bytes again and
checks them again (the world may have changed since the preview); the client never resends
the file. Two commits racing for one wallet end with the database's unique constraint: the
loser gets a `WalletConflict` naming the wallet, and nothing of its file is stored.
"""

import hashlib
import json
import os
import re
import secrets
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import psycopg
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from webapp import audit
from webapp.csvio import CsvFormatError, check_utf8, iter_csv, read_csv
from webapp.extensions import db
from webapp.models import Partner, PartnerWallet, PayloadKind, Provider, StagingPayload
from webapp.wallets.checks import WALLET_COLUMNS, Outcome, WalletCheck, WalletRow, check_rows

PROVIDER_NAME = "manual-upload"
WALLET_CONSTRAINT = "uq_partner_wallets_chain_address"
PAYLOAD_CONSTRAINT = "uq_staging_payloads_kind_sha256"
#: Uploads left unused longer than this are removed when the next one arrives.
UPLOAD_TTL_SECONDS = 24 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
WALLET_INSERT_COLUMNS = (
    "wallet_id",
    "partner_id",
    "chain_id",
    "wallet_address",
    "introduced_date",
    "is_active",
    "notes",
    "created_at",
    "updated_at",
)
WALLET_COPY_TYPES = (
    "uuid",
    "uuid",
    "varchar",
    "varchar",
    "date",
    "bool",
    "text",
    "timestamptz",
    "timestamptz",
)
PROBLEM_HEADER = (
    "line",
    "wallet_address",
    "chain_id",
    "introduced_date",
    "notes",
    "column",
    "reason",
)


class UploadError(ValueError):
    """A file that cannot be checked at all (not UTF-8, no header, no chain), or is gone."""


class WalletConflict(RuntimeError):
    """A commit that lost a race (or repeats an earlier file); nothing of it was stored."""


class UploadRejected(ValueError):
    """A file with refused rows: nothing is stored. `check` holds every row's outcome."""

    def __init__(self, check: WalletCheck):
        super().__init__(f"{len(check.problems)} row(s) refused; nothing was stored")
        self.check = check


@dataclass
class StoredUpload:
    """An uploaded file waiting for its commit, with the outcome its preview gave."""

    token: str
    partner_id: str
    chain_id: str
    file_name: str
    sha256: str
    uploaded_at: str
    counts: dict
    earlier_payload: str = ""


@dataclass
class CommitResult:
    """What a commit stored."""

    added: int
    unchanged: int
    payload_id: uuid.UUID | None


def sha256_of(data: bytes) -> str:
    """Hex SHA-256 of the file's bytes (the identity of a staging payload)."""
    return hashlib.sha256(data).hexdigest()


def check_file(partner: Partner, data: bytes, default_chain_id: str = "") -> WalletCheck:
    """Check every row of a wallet file; UploadError when the file cannot be read as one."""
    try:
        check_utf8(data)
        reader = read_csv(data, WALLET_COLUMNS, max_rows=current_app.config["MAX_WALLET_ROWS"])
        rows = list(reader)
    except CsvFormatError as exc:
        raise UploadError(str(exc)) from None
    if "chain_id" not in reader.present and not default_chain_id:
        raise UploadError("the file has no chain_id column: pick the chain its wallets are on")
    if not rows:
        raise UploadError("the file has a header but no wallet rows")
    return check_rows(partner, rows, default_chain_id)


def earlier_payload(sha256: str) -> StagingPayload | None:
    """The wallet file with these exact bytes committed before, if any."""
    return db.session.scalar(
        select(StagingPayload).where(
            StagingPayload.kind == PayloadKind.WALLETS.value, StagingPayload.sha256 == sha256
        )
    )


def describe_payload(payload: StagingPayload) -> str:
    """One line naming an earlier import: file, when, id."""
    when = payload.created_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"{payload.file_name} imported {when} (payload {payload.payload_id})"


# --- keeping the file between preview and commit -------------------------------------------


def _upload_dir() -> str:
    path = os.path.join(current_app.instance_path, "wallet-uploads")
    os.makedirs(path, exist_ok=True)
    return path


def _paths(token: str) -> tuple[str, str, str]:
    if not _TOKEN.match(token or ""):
        raise UploadError("this upload is unknown or has expired: drop the file again")
    base = os.path.join(_upload_dir(), f"wallets-{token}")
    return base + ".csv", base + ".json", base + ".rows.json"


def _remove_stale_uploads() -> None:
    cutoff = time.time() - UPLOAD_TTL_SECONDS
    with os.scandir(_upload_dir()) as entries:
        for entry in entries:
            if entry.name.startswith("wallets-") and entry.stat().st_mtime < cutoff:
                os.remove(entry.path)


def store_upload(
    partner: Partner, data: bytes, file_name: str, chain_id: str, check: WalletCheck
) -> StoredUpload:
    """Keep the bytes and the preview under a new token."""
    _remove_stale_uploads()
    digest = sha256_of(data)
    earlier = earlier_payload(digest)
    stored = StoredUpload(
        token=secrets.token_urlsafe(24),
        partner_id=str(partner.partner_id),
        chain_id=chain_id,
        file_name=os.path.basename(file_name or "wallets.csv")[:255],
        sha256=digest,
        uploaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        counts=check.counts,
        earlier_payload=describe_payload(earlier) if earlier else "",
    )
    data_path, meta_path, rows_path = _paths(stored.token)
    with open(data_path, "wb") as out:
        out.write(data)
    with open(rows_path, "w", encoding="utf-8") as out:
        json.dump([_row_record(row) for row in check.rows], out, separators=(",", ":"))
    with open(meta_path, "w", encoding="utf-8") as out:
        json.dump(asdict(stored), out)
    return stored


def _row_record(row: WalletRow) -> list:
    return [
        row.line,
        row.wallet_address,
        row.chain_id,
        row.introduced_date,
        row.notes,
        row.outcome.value,
        row.column,
        row.reason,
    ]


def load_upload(token: str, partner: Partner) -> StoredUpload:
    """The stored upload of this partner under `token`; UploadError when unknown."""
    _, meta_path, _ = _paths(token)
    try:
        with open(meta_path, encoding="utf-8") as source:
            stored = StoredUpload(**json.load(source))
    except FileNotFoundError:
        raise UploadError("this upload is unknown or has expired: drop the file again") from None
    if stored.partner_id != str(partner.partner_id):
        raise UploadError("this upload belongs to another partner")
    return stored


def load_upload_bytes(stored: StoredUpload) -> bytes:
    """The file's bytes, refused if they no longer match the SHA-256 the preview saw."""
    data_path, _, _ = _paths(stored.token)
    with open(data_path, "rb") as source:
        data = source.read()
    if sha256_of(data) != stored.sha256:
        raise UploadError("the stored file has changed since its preview: drop it again")
    return data


def preview_rows(stored: StoredUpload, outcome: str = "", after_line: int = 0, limit: int = 100):
    """A page of the preview's rows (file order), optionally of one outcome, after a line."""
    _, _, rows_path = _paths(stored.token)
    with open(rows_path, encoding="utf-8") as source:
        records = json.load(source)
    picked, more = [], False
    for record in records:
        row = WalletRow(*record[:5], Outcome(record[5]), record[6], record[7])
        if row.line <= after_line or (outcome and row.outcome.value != outcome):
            continue
        if len(picked) == limit:
            more = True
            break
        picked.append(row)
    return picked, more


def discard_upload(token: str) -> None:
    """Remove the stored file and its preview."""
    for path in _paths(token):
        if os.path.exists(path):
            os.remove(path)


def problem_rows_csv(stored: StoredUpload):
    """The refused rows of a preview as CSV text chunks, with line, column and reason."""
    rows, _ = preview_rows(stored, Outcome.ERROR.value, limit=10**9)
    return iter_csv(
        PROBLEM_HEADER,
        (
            (r.line, r.wallet_address, r.chain_id, r.introduced_date, r.notes, r.column, r.reason)
            for r in rows
        ),
    )


# --- committing -----------------------------------------------------------------------------


def commit_file(
    partner: Partner, data: bytes, file_name: str, default_chain_id: str = "", user=None
) -> CommitResult:
    """Check the file again and store its new wallets in one transaction, or nothing.

    UploadRejected when a row is refused now; WalletConflict when another commit claims one
    of its wallets first, or when these exact bytes were imported already.
    """
    check = check_file(partner, data, default_chain_id)
    if check.has_errors:
        raise UploadRejected(check)
    counts = check.counts
    new_rows = sorted(check.new_rows, key=lambda row: (row.chain_id, row.wallet_address))
    if not new_rows:
        return CommitResult(added=0, unchanged=counts["unchanged"], payload_id=None)
    digest = sha256_of(data)
    earlier = earlier_payload(digest)
    if earlier is not None:
        raise WalletConflict(f"this exact file was imported already: {describe_payload(earlier)}")
    try:
        payload = _store(partner, new_rows, data, digest, file_name, default_chain_id, user)
        audit.record(
            "import",
            "partner_wallets",
            partner.partner_id,
            after={
                "file_name": payload.file_name,
                "sha256": digest,
                "payload_id": str(payload.payload_id),
                "added": len(new_rows),
                "unchanged": counts["unchanged"],
            },
            user=user,
        )
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if _violates(exc, PAYLOAD_CONSTRAINT):
            raise WalletConflict(
                "this exact file was imported at the same moment by someone else"
            ) from None
        if _violates(exc, WALLET_CONSTRAINT):
            raise WalletConflict(_lost_race_message(partner, new_rows, exc)) from None
        raise
    except OperationalError as exc:
        # Rows are inserted in (chain, address) order, so two commits wait rather than
        # deadlock; should the database still pick a victim, say so instead of failing.
        db.session.rollback()
        if "deadlock" not in str(exc.orig).lower():
            raise
        raise WalletConflict(
            "another upload was storing the same wallets at the same moment; nothing was "
            "stored: check the file again"
        ) from None
    return CommitResult(
        added=len(new_rows), unchanged=counts["unchanged"], payload_id=payload.payload_id
    )


def _store(partner, new_rows, data, digest, file_name, default_chain_id, user) -> StagingPayload:
    chain_ids = {row.chain_id for row in new_rows}
    payload = StagingPayload(
        provider_id=_provider_id(),
        chain_id=default_chain_id or (next(iter(chain_ids)) if len(chain_ids) == 1 else None),
        kind=PayloadKind.WALLETS.value,
        file_name=os.path.basename(file_name or "wallets.csv")[:255],
        sha256=digest,
        row_count=len(new_rows),
        created_by_user_id=getattr(user, "user_id", None),
    )
    db.session.add(payload)
    db.session.flush()
    now = datetime.now(UTC)
    _insert_wallets(
        [
            (
                uuid.uuid4(),
                partner.partner_id,
                row.chain_id,
                row.wallet_address,
                row.parsed_date,
                True,
                row.notes or None,
                now,
                now,
            )
            for row in new_rows
        ]
    )
    db.session.flush()
    return payload


def _insert_wallets(records: list[tuple]) -> None:
    """Insert wallet rows in the session's transaction: COPY on PostgreSQL (a 100,000-row
    file in well under a second), one executemany elsewhere."""
    if db.engine.dialect.name != "postgresql":
        rows = [dict(zip(WALLET_INSERT_COLUMNS, record, strict=True)) for record in records]
        db.session.execute(PartnerWallet.__table__.insert(), rows)
        return
    columns = ", ".join(WALLET_INSERT_COLUMNS)
    statement = f"COPY partner_wallets ({columns}) FROM STDIN (FORMAT BINARY)"
    raw = db.session.connection().connection.driver_connection
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(WALLET_COPY_TYPES)
            for record in records:
                copy.write_row(record)
    except psycopg.errors.IntegrityError as exc:
        # The same exception the ORM path raises, so one handler names the lost wallet.
        raise IntegrityError(statement, None, exc) from exc


def _provider_id() -> uuid.UUID:
    """The `manual-upload` provider, created on first use (a concurrent creator is fine)."""
    found = db.session.scalar(select(Provider.provider_id).where(Provider.name == PROVIDER_NAME))
    if found:
        return found
    try:
        with db.session.begin_nested():
            provider = Provider(name=PROVIDER_NAME)
            db.session.add(provider)
        return provider.provider_id
    except IntegrityError:
        return db.session.scalar(select(Provider.provider_id).where(Provider.name == PROVIDER_NAME))


def _violates(exc: IntegrityError, constraint: str) -> bool:
    diag = getattr(exc.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return diag.constraint_name == constraint
    # SQLite names the columns, not the constraint.
    message = str(exc.orig)
    if constraint == WALLET_CONSTRAINT:
        return "partner_wallets.chain_id, partner_wallets.wallet_address" in message
    if constraint == PAYLOAD_CONSTRAINT:
        return "staging_payloads.kind, staging_payloads.sha256" in message
    return False


def _lost_race_message(partner: Partner, new_rows: list[WalletRow], exc: IntegrityError) -> str:
    """Name the wallet (and its new partner) that another commit stored first."""
    recheck = check_rows(
        partner,
        (
            (
                row.line,
                {
                    "wallet_address": row.wallet_address,
                    "chain_id": row.chain_id,
                    "introduced_date": row.introduced_date,
                },
            )
            for row in new_rows
        ),
    )
    taken = [row for row in recheck.problems if row.column == "wallet_address"]
    db.session.rollback()
    if taken:
        row = taken[0]
        return (
            f"wallet {row.wallet_address} on {row.chain_id} (line {row.line}) was just "
            f"{row.reason.removeprefix('already ')} while this file was being committed; "
            "nothing was stored"
        )
    detail = getattr(getattr(exc.orig, "diag", None), "message_detail", "") or ""
    return (
        "a wallet of this file was claimed by another upload at the same moment "
        f"({detail}); nothing was stored"
    )
