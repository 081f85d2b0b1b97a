"""A large wallet file is stored by a background job: the commit's answer leads to the job's
page, nothing is stored until a worker runs it, and then exactly the previewed file's new
wallets are, all or none. The same outcomes as the request's own commit: a row refused by
then stores nothing, and the kept file is dropped either way."""

import uuid

import pytest
from sqlalchemy import func, select

from tests.wallets.test_wallets import HX, partner_url, stored_addresses, token_of, upload
from tests.worlds import solana_address, two_partners, wallet_csv
from webapp.extensions import db
from webapp.jobs import queue
from webapp.models import Job, JobStatus, PartnerWallet
from webapp.wallets.background import WALLET_UPLOAD
from webapp.wallets.service import add_wallet
from webapp.wallets.upload import UploadError, load_upload

pytestmark = pytest.mark.usefixtures("uploads_in_tmp")


@pytest.fixture
def world(app):
    app.config["JOB_PROGRESS_SECONDS"] = 0
    return two_partners()


def _preview(client, partner, addresses) -> str:
    """Upload a file of `addresses` for `partner`; the preview's token."""
    rows = [(address, "solana", "2024-01-01", "") for address in addresses]
    answer = upload(client, partner, wallet_csv(rows))
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
