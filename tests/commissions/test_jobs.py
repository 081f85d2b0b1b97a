"""Background jobs: a commit or an import queued by its page, run by the worker's one step
(`queue.run_one`) in the test, on SQLite and PostgreSQL. What they store is checked in rows."""

import csv
import io
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, select, update

from tests import factories
from tests.commissions.test_commissions_web import FIRST, LAST, range_args
from tests.conftest import is_postgres
from tests.imports.test_imports_web import PERIODS, REWARDS, TOKEN, request_preview
from tests.worlds import world_with_agreements
from webapp import audit
from webapp.commissions import background, committing, lifecycle, results, storing
from webapp.commissions.terms import period_key
from webapp.extensions import db
from webapp.imports import importing
from webapp.jobs import queue
from webapp.models import (
    AuditLog,
    CanonicalPeriod,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    CommissionRun,
    Job,
    PartnerCommissionLine,
    StagingPayload,
    utcnow,
)
from webapp.vocab import JobStatus

HX = {"HX-Request": "true"}


@pytest.fixture
def world(app):
    """Acme with a Solana and an Ethereum agreement (the commission tests' world)."""
    return world_with_agreements()


@pytest.fixture
def periods(app, tmp_path):
    """Solana with periods 800 and 801."""
    factories.chain("solana")
    path = tmp_path / "periods.csv"
    path.write_text(PERIODS)
    assert importing.import_file("periods", str(path), "manual-upload").ok


@pytest.fixture
def in_background(app):
    """Every commit and import, however small, goes through a job."""
    app.config["BACKGROUND_AFTER_ROWS"] = 0
    app.config["JOB_PROGRESS_SECONDS"] = 0


def checked_in_request(app, client, text: str) -> str:
    """The token of `text` checked in the request (a larger file is checked by a job), whose
    commit a job then imports."""
    return TOKEN.search(request_preview(app, client, text).get_data(as_text=True)).group(1)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def job_of(response) -> Job:
    """The job a page queued: its answer is a 303 to the job's page."""
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("/jobs/")
    db.session.expire_all()
    return db.session.get(Job, uuid.UUID(location.rsplit("/", 1)[1]))


def fresh(job: Job) -> Job:
    db.session.expire_all()
    return db.session.get(Job, job.job_id)


def stored_lines() -> set:
    return {
        (
            line.agreement_id,
            period_key(line.period_id),
            line.validator_key,
            str(line.revenue_component),
            line.wallet_address,
            line.base_amount_native,
            line.commission_rate_bps,
            line.commission_amount_native,
        )
        for line in db.session.scalars(select(PartnerCommissionLine))
    }


def engine_lines(partner) -> set:
    """The engine's lines for the range, computed apart from any commit."""
    computation = results.preview(partner, FIRST, LAST, lines=True)
    return {
        (
            outcome.agreement.agreement_id,
            period_key(line.period_id),
            line.validator_key,
            str(line.revenue_component),
            line.wallet_address,
            line.base_amount_native,
            line.commission_rate_bps,
            line.commission_amount_native,
        )
        for outcome in computation.outcomes
        for line in outcome.result.lines
    }


def test_a_commit_job_stores_what_a_direct_commit_stores(manager_client, world, in_background):
    expected = engine_lines(world.acme)
    assert len(expected) == 15  # what the direct commit of this world stores (commissions_web)
    job = job_of(manager_client.post("/commissions/commit", data=range_args(world)))
    # Queued, nothing computed yet; the job names the range and its creator.
    assert job.status == JobStatus.QUEUED and job.kind == background.COMMIT
    assert job.parameters == {
        "partner_id": str(world.acme.partner_id),
        "date_from": "2025-01-01",
        "date_to": "2025-01-03",
        "true_up": False,
    }
    assert job.created_by.role == "manager"
    assert count(CommissionRun) == 0 and count(PartnerCommissionLine) == 0
    page = manager_client.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    assert "<progress" in page and 'hx-trigger="every 1s"' in page
    assert 'aria-live="polite"' in page and 'http-equiv="refresh"' in page

    assert queue.run_one() == job.job_id
    job = fresh(job)
    assert job.status == JobStatus.DONE, job.error
    assert job.error is None and job.finished_at >= job.started_at >= job.created_at
    assert stored_lines() == expected
    runs_stored = db.session.scalars(select(CommissionRun)).all()
    assert sorted(r.agreement.name for r in runs_stored) == ["Acme ETH", "Acme SOL"]
    assert {r.created_by_user_id for r in runs_stored} == {job.created_by_user_id}
    summary = "Committed 2 run(s) for Acme Wallet, 2025-01-01 to 2025-01-03: 15 line(s)."
    assert job.result["summary"] == summary
    # The panel has turned into the result: no more polling, a link back to the range.
    fragment = manager_client.get(f"/jobs/{job.job_id}", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and "hx-trigger" not in fragment
    assert summary in fragment
    assert f"/commissions/?partner={world.acme.partner_id}" in fragment
    assert queue.run_one() is None  # nothing else waits


def test_small_work_answers_at_once_and_large_work_is_queued(manager_client, world, app):
    # The rows a commit of the range reads, counted here apart: Solana's rewards of its three
    # periods and Ethereum's validator revenue of its one.
    solana = db.session.scalar(
        select(func.count())
        .select_from(CanonicalStakerRewardsDetail)
        .join(CanonicalPeriod)
        .where(CanonicalPeriod.chain_id == "solana")
    )
    ethereum = db.session.scalar(
        select(func.count())
        .select_from(CanonicalValidatorRevenue)
        .where(CanonicalValidatorRevenue.chain_id == "ethereum")
    )
    rows = solana + ethereum
    assert background.estimated_rows(world.acme, FIRST, LAST, 10**6) == rows
    assert background.estimated_rows(world.acme, FIRST, LAST, 3) == 4  # stops past its limit

    app.config["BACKGROUND_AFTER_ROWS"] = rows
    answer = manager_client.post("/commissions/commit", data=range_args(world))
    assert answer.status_code == 302 and count(Job) == 0
    assert count(PartnerCommissionLine) == 15
    app.config["BACKGROUND_AFTER_ROWS"] = rows - 1
    job = job_of(manager_client.post("/commissions/commit", data=range_args(world)))
    assert job.status == JobStatus.QUEUED


def test_commit_progress_moves_and_ends_at_total(
    manager_client, world, in_background, heard_progress
):
    heard = heard_progress
    job = job_of(manager_client.post("/commissions/commit", data=range_args(world)))
    queue.run_one()
    # Solana has three periods in scope and Ethereum one: four pairs, by agreement.
    assert [(done, total) for done, total, _ in heard] in ([(1, 4), (4, 4)], [(3, 4), (4, 4)])
    assert heard[-1][2].endswith("4 of 4 period(s) stored")
    job = fresh(job)
    assert (job.progress_done, job.progress_total) == (4, 4)


def test_a_failing_commit_job_stores_its_error_and_nothing_else(
    manager_client, world, in_background, monkeypatch
):
    calls = []
    supersede = storing.supersede_runs_left_empty

    def broken(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("the disk is full")
        supersede(*args, **kwargs)

    # It fails in the second agreement, after the first one's lines were written and its
    # progress reported.
    monkeypatch.setattr(storing, "supersede_runs_left_empty", broken)
    job = job_of(manager_client.post("/commissions/commit", data=range_args(world)))
    assert queue.run_one() == job.job_id
    job = fresh(job)
    assert job.status == JobStatus.FAILED and job.error == queue.UNEXPECTED
    assert job.result is None and job.finished_at is not None
    assert len(calls) == 2 and job.progress_done < job.progress_total
    assert count(CommissionRun) == 0 and count(PartnerCommissionLine) == 0
    page = manager_client.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    assert "Failed: the job stopped on an unexpected error" in page
    assert 'role="alert"' in page and "hx-trigger" not in page


def test_a_refused_commit_job_says_why(manager_client, world, in_background):
    job = job_of(manager_client.post("/commissions/commit", data=range_args(world)))
    # Meanwhile the range was committed and approved by others: its pairs are locked.
    committer, approver = factories.user("manager"), factories.user("admin")
    for run in committing.commit(world.acme, FIRST, LAST, user=committer).outcomes:
        lifecycle.approve_run(run.run, approver)
    lines = stored_lines()
    queue.run_one()
    job = fresh(job)
    assert job.status == JobStatus.FAILED
    assert "is locked by approved run" in job.error and "nothing committed" in job.error
    assert stored_lines() == lines and count(CommissionRun) == 2


def test_a_large_commit_of_a_locked_range_is_refused_at_once_not_queued(
    manager_client, world, in_background
):
    committer, approver = factories.user("manager"), factories.user("admin")
    for run in committing.commit(world.acme, FIRST, LAST, user=committer).outcomes:
        lifecycle.approve_run(run.run, approver)
    db.session.commit()
    lines = stored_lines()
    response = manager_client.post("/commissions/commit", data=range_args(world))
    assert response.status_code == 400
    assert "is locked by approved run" in response.get_data(as_text=True)
    db.session.expire_all()
    assert count(Job) == 0
    assert stored_lines() == lines and count(CommissionRun) == 2


#: 4,000 staker rewards over periods 800 and 801: large enough to be read in several chunks.
BIG_FILE = (
    REWARDS.splitlines()[0]
    + "\n"
    + "".join(f"solana,{800 + n % 2},V1,Staker{n:05d},MEV,0.{n:018d}\n" for n in range(1, 4001))
)


def file_rows(text_: str) -> set:
    return {
        (r["period"], r["validator_key"], r["staker_address"], r["revenue_component"])
        + (Decimal(r["reward_amount_native"]),)
        for r in csv.DictReader(io.StringIO(text_))
    }


def stored_rewards() -> set:
    R, P = CanonicalStakerRewardsDetail, CanonicalPeriod
    return {
        (label, validator, staker, str(component), Decimal(amount))
        for label, validator, staker, component, amount in db.session.execute(
            select(
                P.label,
                R.validator_key,
                R.staker_address,
                R.revenue_component,
                R.reward_amount_native,
            ).join(P, P.period_id == R.period_id)
        )
    }


def test_an_import_job_stores_the_file_rows_with_progress(
    app, manager_client, periods, in_background, monkeypatch, heard_progress
):
    monkeypatch.setattr(importing, "PROGRESS_ROWS", 500)
    seen = []  # what another connection reads while the import's transaction is open
    original = queue._write
    reader = create_engine(db.engine.url)

    def write_and_look(engine, job_id, token, **values):
        written = original(engine, job_id, token, **values)
        if "progress_done" in values:
            with reader.connect() as conn:
                seen.append(
                    conn.execute(
                        select(Job.progress_done, Job.progress_total).where(Job.job_id == job_id)
                    ).one()
                )
        return written

    monkeypatch.setattr(queue, "_write", write_and_look)
    heard = heard_progress  # what the import reported
    token = checked_in_request(app, manager_client, BIG_FILE)
    payloads = count(StagingPayload)
    job = job_of(manager_client.post(f"/imports/commit/{token}"))
    assert count(CanonicalStakerRewardsDetail) == 0 and count(StagingPayload) == payloads
    assert queue.run_one() == job.job_id
    reader.dispose()
    job = fresh(job)
    assert job.status == JobStatus.DONE, job.error
    assert stored_rewards() == file_rows(BIG_FILE)
    payload = db.session.scalars(
        select(StagingPayload).where(StagingPayload.kind == "staker-rewards")
    ).one()
    assert payload.row_count == 4000 and payload.created_by_user_id == job.created_by_user_id
    assert job.result["values"] == {"payload_id": str(payload.payload_id)}
    assert job.result["summary"].startswith("imported 4000 staker reward rows from r.csv")
    size = len(BIG_FILE.encode())
    assert (job.progress_done, job.progress_total) == (size, size)
    assert job.message == "Done."
    # Every 500 rows of 4,000, and at the end: eight steps, in bytes, up to the file's size.
    assert len(heard) == 9 and heard[-1] == (size, size, "4,000 row(s) read")
    assert [m for _, _, m in heard[:8]] == [f"{n:,} row(s) read" for n in range(500, 4001, 500)]
    assert [d for d, _, _ in heard] == sorted(d for d, _, _ in heard)
    assert heard[0][0] < size and {t for _, t, _ in heard} == {size}
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == size
    if is_postgres():
        # PostgreSQL: every step was readable while the rows were being written; SQLite
        # has one writer, and a step taken while the import writes waits for its end.
        assert len(set(done)) >= 4 and done[0] < size
    fragment = manager_client.get(f"/jobs/{job.job_id}", headers=HX).get_data(as_text=True)
    assert f"/imports/payloads/{payload.payload_id}" in fragment
    assert manager_client.post(f"/imports/commit/{token}").status_code == 404  # file dropped


def test_a_failing_import_job_stores_nothing(app, manager_client, periods, in_background, tmp_path):
    token = checked_in_request(app, manager_client, REWARDS)
    job = job_of(manager_client.post(f"/imports/commit/{token}"))
    # Meanwhile the same rows came in from another file: the job's rows collide.
    other = tmp_path / "other.csv"
    other.write_text(REWARDS.replace("0.2\n", "0.20\n"))
    assert importing.import_file("staker-rewards", str(other), "jito").ok
    before, payloads = stored_rewards(), count(StagingPayload)
    queue.run_one()
    job = fresh(job)
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("r.csv was not imported: 3 errors in its rows; nothing was stored")
    assert "line 2, " in job.error
    assert stored_rewards() == before and count(StagingPayload) == payloads


def expire(job: Job, attempts: int) -> None:
    """As if the worker that claimed the job `attempts` times died a minute ago."""
    db.session.execute(
        update(Job)
        .where(Job.job_id == job.job_id)
        .values(
            status=JobStatus.RUNNING,
            claim="a-dead-worker",
            attempts=attempts,
            started_at=utcnow() - timedelta(minutes=5),
            lease_expires_at=utcnow() - timedelta(minutes=1),
        )
    )
    db.session.commit()


def test_a_job_whose_lease_ran_out_is_taken_over_once(manager_client, world, in_background):
    job = job_of(manager_client.post("/commissions/commit", data=range_args(world)))
    # A live lease is left alone.
    db.session.execute(
        update(Job)
        .where(Job.job_id == job.job_id)
        .values(
            status=JobStatus.RUNNING,
            claim="alive",
            attempts=1,
            lease_expires_at=utcnow() + timedelta(minutes=1),
        )
    )
    db.session.commit()
    assert queue.run_one() is None
    assert fresh(job).status == JobStatus.RUNNING
    # Its worker died: taken over, run once, and its rows stored once.
    expire(job, attempts=1)
    assert queue.run_one() == job.job_id
    job = fresh(job)
    assert job.status == JobStatus.DONE and job.attempts == 2 and job.claim != "a-dead-worker"
    assert count(CommissionRun) == 2 and stored_lines() == engine_lines(world.acme)
    # A job whose second worker died too is failed, not taken a third time.
    second = job_of(manager_client.post("/commissions/commit", data=range_args(world)))
    expire(second, attempts=2)
    assert queue.run_one() is None
    second = fresh(second)
    assert second.status == JobStatus.FAILED and second.error == queue.ABANDONED
    assert second.attempts == 2 and count(CommissionRun) == 2


def test_a_stale_worker_cannot_finish_a_job_taken_over(manager_client, world, in_background):
    job = job_of(manager_client.post("/commissions/commit", data=range_args(world)))
    job_id, token = queue.claim()
    expire(fresh(job), attempts=1)
    job_id_again, token_again = queue.claim()
    assert job_id_again == job_id and token_again != token
    assert not queue._write(db.engine, job_id, token, message="late words")
    assert fresh(job).message == "Started."


def test_job_page_needs_login_and_the_role_that_started_it(
    manager_client, viewer_client, admin_client, client, world, in_background
):
    job = job_of(manager_client.post("/commissions/commit", data=range_args(world)))
    signed_out = client.get(f"/jobs/{job.job_id}")
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    assert viewer_client.get(f"/jobs/{job.job_id}").status_code == 403
    assert admin_client.get(f"/jobs/{job.job_id}").status_code == 200
    assert manager_client.get(f"/jobs/{uuid.uuid4()}").status_code == 404
    # A viewer cannot queue one either.
    assert viewer_client.post("/commissions/commit", data=range_args(world)).status_code == 403
    assert count(Job) == 1


def test_creating_a_job_needs_the_csrf_token(app, make_user, login, world, in_background):
    client = login(app.test_client(), make_user("manager"))
    rewards = REWARDS.replace(",800,", ",701,").replace(",801,", ",702,")
    token = checked_in_request(app, client, rewards)
    del client.environ_base["HTTP_X_CSRFTOKEN"]
    assert client.post("/commissions/commit", data=range_args(world)).status_code == 400
    assert client.post(f"/imports/commit/{token}").status_code == 400
    assert count(Job) == 0 and count(CommissionRun) == 0


@pytest.mark.postgres_only
def test_two_workers_released_together_never_run_the_same_job(app, make_user, monkeypatch):
    def mark(parameters, user, progress):
        audit.record("job ran", "job", parameters["n"], user=user)
        db.session.commit()
        return {"summary": "marked"}

    monkeypatch.setitem(queue.KINDS, "mark", queue.Kind("mark", "Mark", "manager", mark))
    user = make_user("manager")
    rounds, per_round = 30, 3
    # The test and two workers: each round, the test queues jobs, then all three pass the
    # barrier at once and the workers claim together until the queue is empty.
    barrier = threading.Barrier(3)
    errors = []

    def worker():
        try:
            with app.app_context():
                for _ in range(rounds):
                    barrier.wait(timeout=30)
                    while queue.run_one() is not None:
                        pass
                    barrier.wait(timeout=30)
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for number in range(rounds):
        for n in range(per_round):
            queue.enqueue("mark", {"n": number * per_round + n}, user)
        barrier.wait(timeout=30)
        barrier.wait(timeout=60)
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    db.session.expire_all()
    ran = dict(
        db.session.execute(
            select(AuditLog.entity_id, func.count())
            .where(AuditLog.action == "job ran")
            .group_by(AuditLog.entity_id)
        ).all()
    )
    # Every job ran, and ran once.
    assert sorted(int(n) for n in ran) == list(range(rounds * per_round))
    assert set(ran.values()) == {1}
    statuses = db.session.execute(select(Job.status, Job.attempts)).all()
    assert set(statuses) == {(JobStatus.DONE, 1)}
