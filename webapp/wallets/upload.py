"""Wallet files: read, check, keep between preview and commit, and commit all or nothing.

The uploaded bytes are kept in the upload store (`instance/wallet-uploads/`) under a random
token, with the preview's outcome per row beside them. A commit reads the bytes again and
checks them again (the world may have changed since the preview); the client never resends
the file. What a row's own checks found (its address, date and notes, duplicates in the
file) depends on nothing but the bytes, the chains' address formats and the day: while
those are as the preview saw them, the commit takes it from the preview and asks only the
stored wallets again (`kept_check`); otherwise it checks every row again. Two commits
racing for one wallet end with the database's unique constraint: the loser gets a
`WalletConflict` naming the wallet, and nothing of its file is stored.
"""

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy.exc import IntegrityError, OperationalError

from webapp import audit
from webapp.csvio import CsvFormatError, check_utf8, iter_csv, read_csv
from webapp.extensions import db
from webapp.models import Partner, PartnerWallet, StagingPayload
from webapp.storage import (
    Upload,
    UploadMissing,
    UploadStore,
    bulk_insert,
    describe_payload,
    earlier_payload,
    new_payload,
    provider_named,
    violates,
)
from webapp.vocab import PayloadKind
from webapp.wallets.checks import (
    WALLET_COLUMNS,
    Outcome,
    WalletCheck,
    WalletRow,
    check_claims,
    check_rows,
    checked_with,
    load_chains,
    parse_introduced_date,
)

PROVIDER_NAME = "manual-upload"
WALLET_CONSTRAINT = "uq_partner_wallets_chain_address"
PAYLOAD_CONSTRAINT = "uq_staging_payloads_kind_sha256"
#: Files between their preview and their commit.
UPLOADS = UploadStore("wallet", owner_word="partner")
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

    upload: Upload
    chain_id: str
    counts: dict
    earlier_payload: str = ""
    #: False while a background job checks the file (`keep_unchecked`): it has no preview
    #: yet, and cannot be committed.
    checked: bool = True
    #: What the preview's row checks went by (`checks.checked_with`).
    basis: dict = field(default_factory=dict)

    @property
    def token(self) -> str:
        """The key the preview's links carry."""
        return self.upload.token

    @property
    def file_name(self) -> str:
        """The name the file was uploaded under."""
        return self.upload.file_name


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


# --- keeping the file between preview and commit -------------------------------------------


def store_upload(
    partner: Partner, data: bytes, file_name: str, chain_id: str, check: WalletCheck
) -> StoredUpload:
    """Keep the bytes and the preview under a new token."""
    earlier = earlier_payload(PayloadKind.WALLETS, sha256_of(data))
    upload = UPLOADS.keep(
        data,
        file_name or "wallets.csv",
        partner.partner_id,
        chain_id=chain_id,
        counts=check.counts,
        earlier_payload=describe_payload(earlier) if earlier else "",
        basis=check.basis,
    )
    UPLOADS.save_part(upload, "rows", [_row_record(row) for row in check.rows])
    return _stored(upload)


def keep_unchecked(partner: Partner, data: bytes, file_name: str, chain_id: str) -> StoredUpload:
    """Keep the bytes of a file whose check is left to a background job
    (`wallets.background`); it has no preview until the job gives it one."""
    upload = UPLOADS.keep(
        data,
        file_name or "wallets.csv",
        partner.partner_id,
        chain_id=chain_id,
        counts={},
        checked=False,
    )
    return _stored(upload)


def _stored(upload: Upload) -> StoredUpload:
    return StoredUpload(upload=upload, **upload.meta)


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
        row.passed_own_checks,
    ]


def load_upload(token: str, partner: Partner) -> StoredUpload:
    """The stored upload of this partner under `token`; UploadError when unknown."""
    try:
        return _stored(UPLOADS.load(token, partner.partner_id))
    except UploadMissing as exc:
        raise UploadError(str(exc)) from None


def load_upload_bytes(stored: StoredUpload) -> bytes:
    """The file's bytes, refused if they no longer match the SHA-256 the preview saw."""
    try:
        return UPLOADS.read(stored.upload)
    except (UploadMissing, OSError) as exc:
        raise UploadError(str(exc)) from None


def _kept_rows(stored: StoredUpload) -> Iterator[WalletRow]:
    """The preview's rows as `_row_record` kept them, in file order (one kept before rows had
    their pass mark has none); UploadError when they are gone."""
    try:
        records = UPLOADS.load_part(stored.upload, "rows")
    except UploadMissing as exc:
        raise UploadError(str(exc)) from None
    for record in records:
        line, address, chain_id, introduced, notes, outcome, column, reason, *passed = record
        yield WalletRow(
            line,
            address,
            chain_id,
            introduced,
            notes,
            Outcome(outcome),
            column,
            reason,
            passed_own_checks=bool(passed and passed[0]),
        )


def preview_rows(stored: StoredUpload, outcome: str = "", after_line: int = 0, limit: int = 100):
    """A page of the preview's rows (file order), optionally of one outcome, after a line."""
    picked, more = [], False
    for row in _kept_rows(stored):
        if row.line <= after_line or (outcome and row.outcome.value != outcome):
            continue
        if len(picked) == limit:
            more = True
            break
        picked.append(row)
    return picked, more


def kept_check(partner: Partner, stored: StoredUpload) -> WalletCheck | None:
    """The file's check at commit from its preview: each row's own outcome as the preview
    found it, then every row that passed asked against the wallets stored now. None when
    the preview cannot stand in for checking the bytes again: the chains' formats or the
    day differ from those it went by, or it was kept without them."""
    chains = load_chains()
    if stored.basis != checked_with(chains):
        return None
    check = WalletCheck(rows=list(_kept_rows(stored)), basis=stored.basis)
    for row in check.rows:
        with suppress(ValueError):
            row.parsed_date = parse_introduced_date(row.introduced_date)
    check_claims(partner, check, chains)
    return check


def discard_upload(token: str) -> None:
    """Remove the stored file and its preview."""
    UPLOADS.discard(token)


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
    partner: Partner,
    data: bytes,
    file_name: str,
    default_chain_id: str = "",
    user=None,
    progress=None,
    kept: StoredUpload | None = None,
) -> CommitResult:
    """Check the file again and store its new wallets in one transaction, or nothing;
    `progress(done, total, message)`, when given, hears of each of the two steps. Given the
    preview the file was `kept` with (its bytes are `data`), the rows' own checks come from
    it while it still holds (`kept_check`).

    UploadRejected when a row is refused now; WalletConflict when another commit claims one
    of its wallets first, or when these exact bytes were imported already.
    """
    if progress:
        progress(0, 2, "Checking every row of the file again")
    check = kept_check(partner, kept) if kept is not None else None
    if check is None:
        check = check_file(partner, data, default_chain_id)
    if check.has_errors:
        raise UploadRejected(check)
    counts = check.counts
    new_rows = sorted(check.new_rows, key=lambda row: (row.chain_id, row.wallet_address))
    if not new_rows:
        return CommitResult(added=0, unchanged=counts["unchanged"], payload_id=None)
    digest = sha256_of(data)
    earlier = earlier_payload(PayloadKind.WALLETS, digest)
    if earlier is not None:
        raise WalletConflict(f"this exact file was imported already: {describe_payload(earlier)}")
    if progress:
        progress(1, 2, f"Storing {len(new_rows):,} new wallets")
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
        if violates(exc, StagingPayload.__table__, PAYLOAD_CONSTRAINT):
            raise WalletConflict(
                "this exact file was imported at the same moment by someone else"
            ) from None
        if violates(exc, PartnerWallet.__table__, WALLET_CONSTRAINT):
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
    provider, _ = provider_named(PROVIDER_NAME, user)
    payload = new_payload(
        provider.provider_id,
        PayloadKind.WALLETS,
        os.path.basename(file_name or "wallets.csv"),
        digest,
        chain_id=default_chain_id or (next(iter(chain_ids)) if len(chain_ids) == 1 else None),
        row_count=len(new_rows),
        user=user,
    )
    now = datetime.now(UTC)
    bulk_insert(
        db.session,
        PartnerWallet.__table__,
        ("chain_id", "wallet_address", "introduced_date", "notes"),
        (
            (row.chain_id, row.wallet_address, row.parsed_date, row.notes or None)
            for row in new_rows
        ),
        new_ids=True,
        constants={
            "partner_id": partner.partner_id,
            "is_active": True,
            "created_at": now,
            "updated_at": now,
        },
    )
    db.session.flush()
    return payload


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
