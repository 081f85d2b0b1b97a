"""A previewed wallet file stored by a background job: the commit of a large upload, whose
progress the job's page shows instead of a request waiting on it."""

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
    commit_file,
    discard_upload,
    load_upload,
    load_upload_bytes,
)

WALLET_UPLOAD = "wallet-upload"


def stored_message(result) -> str:
    """What a commit of a wallet file stored (the same in the request or a job)."""
    return f"{result.added} wallet(s) added, {result.unchanged} already this partner's."


def row_count(stored) -> int:
    """The rows of a previewed file, every outcome counted."""
    return sum(stored.counts.values())


@kind(WALLET_UPLOAD, "Wallet upload", Role.MANAGER)
def run_wallet_upload(parameters: dict, user, progress) -> dict:
    """Store the previewed file's new wallets, all or none, after checking it once more; the
    kept file is dropped either way. A row refused now fails the job with its reason, and
    the file must be previewed again."""
    partner = db.session.get(Partner, uuid.UUID(parameters["partner_id"]))
    if partner is None:
        raise JobFailed("The partner no longer exists; nothing was stored.")
    try:
        stored = load_upload(parameters["token"], partner)
        data = load_upload_bytes(stored)
    except UploadError as error:
        raise JobFailed(f"Nothing was stored: {error}") from None
    try:
        result = commit_file(partner, data, stored.file_name, stored.chain_id, user, progress)
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
