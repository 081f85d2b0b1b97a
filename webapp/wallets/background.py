"""A large wallet file checked, then stored, by background jobs: the check of its upload and
the commit of its preview, whose progress the job's page shows instead of a request waiting
on it."""

import uuid

from webapp.extensions import db
from webapp.jobs.queue import JobFailed, kind
from webapp.models import Partner
from webapp.vocab import Role
from webapp.wallets.checks import Outcome
from webapp.wallets.upload import (
    UploadError,
    UploadRejected,
    WalletConflict,
    check_file,
    commit_file,
    discard_upload,
    load_upload,
    load_upload_bytes,
    store_upload,
)

WALLET_UPLOAD = "wallet-upload"
WALLET_CHECK = "wallet-check"


def stored_message(result) -> str:
    """What a commit of a wallet file stored (the same in the request or a job)."""
    return f"{result.added} wallet(s) added, {result.unchanged} already this partner's."


def row_count(stored) -> int:
    """The rows of a previewed file, every outcome counted."""
    return sum(stored.counts.values())


def _partner(parameters: dict) -> Partner:
    partner = db.session.get(Partner, uuid.UUID(parameters["partner_id"]))
    if partner is None:
        raise JobFailed("The partner no longer exists; nothing was stored.")
    return partner


def _kept_file(partner: Partner, token: str, refusal: str):
    """The partner's kept file under `token` and its bytes; a job fails with `refusal` and
    the reason when it is gone or changed."""
    try:
        kept = load_upload(token, partner)
        return kept, load_upload_bytes(kept)
    except UploadError as error:
        raise JobFailed(f"{refusal}: {error}") from None


def checked_message(file_name: str, counts: dict) -> str:
    """What the check of a wallet file found, in the preview's words."""
    errors = counts[Outcome.ERROR]
    return (
        f"{file_name} is checked: {counts[Outcome.NEW]:,} new, "
        f"{counts[Outcome.UNCHANGED]:,} unchanged, {errors:,} error{'' if errors == 1 else 's'}."
        " Nothing is stored until its preview is committed."
    )


@kind(WALLET_CHECK, "Wallet file check", Role.MANAGER)
def run_wallet_check(parameters: dict, user, progress) -> dict:
    """Check every row of an uploaded file, as the upload does for a small one, and keep the
    outcome as its preview, which the result links to; nothing is stored. The unchecked file
    is dropped either way (its preview keeps the bytes under a token of its own)."""
    partner = _partner(parameters)
    unchecked, data = _kept_file(partner, parameters["token"], "Nothing was checked")
    try:
        progress(0, 1, f"Checking every row of {unchecked.file_name}")
        check = check_file(partner, data, unchecked.chain_id)
        stored = store_upload(partner, data, unchecked.file_name, unchecked.chain_id, check)
    except UploadError as error:
        raise JobFailed(f"{unchecked.file_name}: {error}") from None
    finally:
        discard_upload(unchecked.token)
    return {
        "summary": checked_message(stored.file_name, stored.counts),
        "endpoint": "wallets.upload_preview",
        "values": {"partner_id": str(partner.partner_id), "token": stored.token},
        "link": f"See the preview of {stored.file_name}",
    }


@kind(WALLET_UPLOAD, "Wallet upload", Role.MANAGER)
def run_wallet_upload(parameters: dict, user, progress) -> dict:
    """Store the previewed file's new wallets, all or none, after checking it once more; the
    kept file is dropped either way. A row refused now fails the job with its reason, and
    the file must be previewed again."""
    partner = _partner(parameters)
    stored, data = _kept_file(partner, parameters["token"], "Nothing was stored")
    try:
        result = commit_file(
            partner, data, stored.file_name, stored.chain_id, user, progress, kept=stored
        )
    except UploadRejected as rejected:
        refused = rejected.check.counts[Outcome.ERROR.value]
        raise JobFailed(
            f"Nothing was stored: {refused} row(s) of {stored.file_name} are refused now that "
            "wallets changed since the preview. Upload the file again to see why."
        ) from None
    except WalletConflict as conflict:
        raise JobFailed(f"Commit refused: {conflict}. Nothing was stored.") from None
    finally:
        discard_upload(stored.token)
    return {
        "summary": stored_message(result),
        "endpoint": "partners.detail",
        "values": {"partner_id": str(partner.partner_id)},
        "link": f"See {partner.name}'s wallets",
    }
