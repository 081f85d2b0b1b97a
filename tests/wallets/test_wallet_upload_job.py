"""A large wallet file is checked, then stored, by background jobs.

The check: the upload's answer leads to the job's page; the worker gives the file the very
preview the request gives a small one (counts and every row's outcome), nothing is stored,
and the result links to that preview. The commit: the answer leads to the job's page, nothing
is stored until a worker runs it, and then exactly the previewed file's new wallets are, all
or none. The same outcomes as the request's own commit: a row refused by then stores nothing,
and the kept file is dropped either way."""

import io
import uuid

import pytest
from flask import current_app
from sqlalchemy import func, select

from tests.wallets.test_wallets import HX, partner_url, stored_addresses, token_of, upload
from tests.worlds import solana_address, two_partners, wallet_csv
from webapp.extensions import db
from webapp.jobs import queue
from webapp.models import Job, JobStatus, PartnerWallet
from webapp.wallets.background import WALLET_CHECK, WALLET_UPLOAD
from webapp.wallets.service import add_wallet
from webapp.wallets.upload import UploadError, load_upload, preview_rows

pytestmark = pytest.mark.usefixtures("uploads_in_tmp")


@pytest.fixture
def world(app):
    app.config["JOB_PROGRESS_SECONDS"] = 0
    return two_partners()


def _preview(client, partner, addresses) -> str:
    """Upload a file of `addresses` for `partner`, checked in the request whatever the bound
    (the commit's bound is what these tests set); the preview's token."""
    rows = [(address, "solana", "2024-01-01", "") for address in addresses]
    bound = current_app.config["BACKGROUND_AFTER_ROWS"]
    current_app.config["BACKGROUND_AFTER_ROWS"] = len(rows)
    try:
        answer = upload(client, partner, wallet_csv(rows))
    finally:
        current_app.config["BACKGROUND_AFTER_ROWS"] = bound
    assert answer.status_code == 200
    return token_of(answer.get_data(as_text=True))


def _commit(client, partner, token, headers=HX):
    return client.post(partner_url(partner, f"/wallets/uploads/{token}/commit"), headers=headers)


def _job_of(answer) -> Job:
    location = answer.headers.get("HX-Redirect") or answer.headers["Location"]
    assert location.startswith("/jobs/"), location
    db.session.expire_all()
    return db.session.get(Job, uuid.UUID(location.rsplit("/", 1)[1]))


def _count_wallets() -> int:
    return db.session.scalar(select(func.count()).select_from(PartnerWallet))


def test_a_large_file_is_stored_by_a_job(world, manager_client, app):
    app.config["BACKGROUND_AFTER_ROWS"] = 2
    addresses = {solana_address() for _ in range(3)}
    token = _preview(manager_client, world.acme, addresses)
    before = _count_wallets()

    answer = _commit(manager_client, world.acme, token)
    job = _job_of(answer)
    assert answer.status_code == 200 and answer.get_data() == b""
    assert job.kind == WALLET_UPLOAD and job.status == JobStatus.QUEUED
    assert job.parameters == {"partner_id": str(world.acme.partner_id), "token": token}
    assert job.created_by.role == "manager"
    assert _count_wallets() == before  # nothing stored before a worker runs it
    page = manager_client.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    assert "Wallet upload" in page and "<progress" in page

    assert queue.run_one() == job.job_id
    db.session.expire_all()
    job = db.session.get(Job, job.job_id)
    assert job.status == JobStatus.DONE, job.error
    assert stored_addresses(world.acme) == addresses
    assert _count_wallets() == before + 3
    assert job.result["summary"] == "3 wallet(s) added, 0 already this partner's."
    assert (job.progress_done, job.progress_total) == (1, 2)
    fragment = manager_client.get(f"/jobs/{job.job_id}", headers=HX).get_data(as_text=True)
    assert f"/partners/{world.acme.partner_id}" in fragment
    with pytest.raises(UploadError):
        load_upload(token, world.acme)  # the kept file is gone


def test_a_file_at_the_bound_is_stored_at_once_and_one_row_more_is_queued(
    world, manager_client, app
):
    app.config["BACKGROUND_AFTER_ROWS"] = 2
    at_bound = {solana_address() for _ in range(2)}
    answer = _commit(manager_client, world.acme, _preview(manager_client, world.acme, at_bound))
    assert answer.status_code == 200 and "2 wallet(s) added" in answer.get_data(as_text=True)
    assert stored_addresses(world.acme) == at_bound
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0

    over = {solana_address() for _ in range(3)}
    # Without htmx the answer is a redirect to the job's page.
    answer = _commit(manager_client, world.acme, _preview(manager_client, world.acme, over), {})
    assert answer.status_code == 303
    assert _job_of(answer).status == JobStatus.QUEUED
    assert stored_addresses(world.acme) == at_bound


def test_a_job_whose_row_is_refused_by_then_stores_nothing(world, manager_client, app):
    app.config["BACKGROUND_AFTER_ROWS"] = 0
    addresses = [solana_address() for _ in range(3)]
    token = _preview(manager_client, world.acme, addresses)
    job = _job_of(_commit(manager_client, world.acme, token))
    add_wallet(world.beta, "solana", addresses[1], "2024-01-01")  # claimed meanwhile
    db.session.commit()

    assert queue.run_one() == job.job_id
    db.session.expire_all()
    job = db.session.get(Job, job.job_id)
    assert job.status == JobStatus.FAILED
    assert "1 row(s) of wallets.csv are refused now" in job.error
    assert stored_addresses(world.acme) == set()
    with pytest.raises(UploadError):
        load_upload(token, world.acme)


def test_a_viewer_cannot_queue_a_wallet_upload(world, manager_client, viewer_client, app):
    app.config["BACKGROUND_AFTER_ROWS"] = 0
    token = _preview(manager_client, world.acme, [solana_address()])
    answer = _commit(viewer_client, world.acme, token)
    assert answer.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0


# --- the check of a large file ---------------------------------------------------------------


def _mixed_file(partner) -> tuple[bytes, dict]:
    """Four rows: two new wallets, one already the partner's, one refused (not an address);
    and what each address's row must come out as."""
    new_one, new_two, known = solana_address(), solana_address(), solana_address()
    add_wallet(partner, "solana", known, "2024-01-01")
    db.session.commit()
    rows = [
        (new_one, "solana", "2024-01-01", ""),
        (known, "solana", "2024-01-01", ""),
        ("not-an-address", "solana", "2024-01-01", ""),
        (new_two, "solana", "2024-02-01", "second"),
    ]
    outcomes = {new_one: "new", known: "unchanged", "not-an-address": "error", new_two: "new"}
    return wallet_csv(rows), outcomes


def _outcomes(stored) -> list[tuple]:
    rows, more = preview_rows(stored, limit=100)
    assert not more
    return [(r.line, r.wallet_address, r.outcome.value, r.column, r.reason) for r in rows]


def test_a_large_file_is_checked_by_a_job_into_the_preview_the_request_gives(
    world, manager_client, app
):
    data, outcomes = _mixed_file(world.acme)
    before = _count_wallets()
    # The reference: the same file checked in the request.
    app.config["BACKGROUND_AFTER_ROWS"] = 4
    in_request = upload(manager_client, world.acme, data)
    assert in_request.status_code == 200
    reference = load_upload(token_of(in_request.get_data(as_text=True)), world.acme)

    app.config["BACKGROUND_AFTER_ROWS"] = 3
    answer = upload(manager_client, world.acme, data)
    job = _job_of(answer)
    assert answer.status_code == 200 and answer.get_data() == b""
    assert job.kind == WALLET_CHECK and job.status == JobStatus.QUEUED
    unchecked = job.parameters["token"]
    assert job.parameters == {"partner_id": str(world.acme.partner_id), "token": unchecked}
    page = manager_client.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    assert "Wallet file check" in page and "<progress" in page
    # Until the job has checked it, the file has no preview and cannot be committed.
    for url in (f"/wallets/uploads/{unchecked}", f"/wallets/uploads/{unchecked}/rows"):
        assert manager_client.get(partner_url(world.acme, url)).status_code == 404
    assert _commit(manager_client, world.acme, unchecked).status_code == 404
    assert _count_wallets() == before

    assert queue.run_one() == job.job_id
    db.session.expire_all()
    job = db.session.get(Job, job.job_id)
    assert job.status == JobStatus.DONE, job.error
    assert job.result["summary"] == (
        "wallets.csv is checked: 2 new, 1 unchanged, 1 error."
        " Nothing is stored until its preview is committed."
    )
    checked = load_upload(job.result["values"]["token"], world.acme)
    assert checked.counts == reference.counts == {"new": 2, "unchanged": 1, "error": 1}
    assert _outcomes(checked) == _outcomes(reference)
    assert {address: outcome for _, address, outcome, *_ in _outcomes(checked)} == outcomes
    with pytest.raises(UploadError):
        load_upload(unchecked, world.acme)  # the unchecked file is gone
    assert _count_wallets() == before  # a check stores nothing

    # The job's result leads to the preview, a whole page.
    fragment = manager_client.get(f"/jobs/{job.job_id}", headers=HX).get_data(as_text=True)
    preview_url = f"/partners/{world.acme.partner_id}/wallets/uploads/{checked.token}"
    assert f'href="{preview_url}"' in fragment
    preview = manager_client.get(preview_url)
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert "<html" in html and "Preview of wallets.csv" in html
    assert "2 new" in html and "1 unchanged" in html and "1 error" in html


def test_a_file_at_the_bound_is_checked_at_once_and_one_row_more_is_queued(
    world, manager_client, app
):
    app.config["BACKGROUND_AFTER_ROWS"] = 2
    at_bound = [(solana_address(), "solana", "2024-01-01", "") for _ in range(2)]
    answer = upload(manager_client, world.acme, wallet_csv(at_bound))
    assert answer.status_code == 200 and "2 new" in answer.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0

    over = at_bound + [(solana_address(), "solana", "2024-01-01", "")]
    answer = manager_client.post(
        partner_url(world.acme, "/wallets/uploads"),
        # No line break after the last row: it still counts.
        data={"file": (io.BytesIO(wallet_csv(over).rstrip(b"\n")), "w.csv"), "chain_id": ""},
        content_type="multipart/form-data",
    )
    # Without htmx the answer is a redirect to the job's page.
    assert answer.status_code == 303
    assert _job_of(answer).kind == WALLET_CHECK


def test_a_checked_file_is_committed_from_its_preview(world, manager_client, app):
    app.config["BACKGROUND_AFTER_ROWS"] = 1
    addresses = {solana_address() for _ in range(2)}
    rows = [(address, "solana", "2024-01-01", "") for address in addresses]
    job = _job_of(upload(manager_client, world.acme, wallet_csv(rows)))
    assert queue.run_one() == job.job_id
    db.session.expire_all()
    token = db.session.get(Job, job.job_id).result["values"]["token"]

    app.config["BACKGROUND_AFTER_ROWS"] = 2  # stored in the request
    answer = _commit(manager_client, world.acme, token)
    assert answer.status_code == 200 and "2 wallet(s) added" in answer.get_data(as_text=True)
    assert stored_addresses(world.acme) == addresses


def test_a_file_that_cannot_be_read_fails_its_check_and_is_dropped(world, manager_client, app):
    app.config["BACKGROUND_AFTER_ROWS"] = 1
    rows = [(solana_address(), "2024-01-01") for _ in range(2)]
    data = wallet_csv(rows, header="wallet_address,introduced_date")  # no chain, none picked
    job = _job_of(upload(manager_client, world.acme, data))
    token = job.parameters["token"]
    assert queue.run_one() == job.job_id
    db.session.expire_all()
    job = db.session.get(Job, job.job_id)
    assert job.status == JobStatus.FAILED
    assert job.error == (
        "wallets.csv: the file has no chain_id column: pick the chain its wallets are on"
    )
    with pytest.raises(UploadError):
        load_upload(token, world.acme)
    assert stored_addresses(world.acme) == set()


def test_a_viewer_cannot_queue_a_wallet_check(world, viewer_client, app):
    app.config["BACKGROUND_AFTER_ROWS"] = 0
    answer = upload(viewer_client, world.acme, wallet_csv([(solana_address(), "solana", "", "")]))
    assert answer.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_checked_files_own_page_discards_it_back_to_the_partner(world, manager_client, app):
    app.config["BACKGROUND_AFTER_ROWS"] = 1
    rows = [(solana_address(), "solana", "2024-01-01", "") for _ in range(2)]
    job = _job_of(upload(manager_client, world.acme, wallet_csv(rows)))
    assert queue.run_one() == job.job_id
    db.session.expire_all()
    token = db.session.get(Job, job.job_id).result["values"]["token"]
    discard = partner_url(world.acme, f"/wallets/uploads/{token}/discard")
    page = manager_client.get(partner_url(world.acme, f"/wallets/uploads/{token}"))
    # A plain form, not an htmx swap that would leave the page empty.
    assert f'<form method="post" action="{discard}"' in page.get_data(as_text=True)

    answer = manager_client.post(discard)
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/partners/{world.acme.partner_id}")
    with pytest.raises(UploadError):
        load_upload(token, world.acme)
    assert stored_addresses(world.acme) == set()
