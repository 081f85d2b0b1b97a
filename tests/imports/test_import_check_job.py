"""A large data file is checked by a background job: the preview's answer leads to the job's
page, the worker checks the kept file as the request would, storing nothing, and the job's
link opens the page the request would have shown, from which the file is imported (or, when
refused, its refused rows are read). The report kept between them survives JSON whole."""

import dataclasses
import io
import json
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.commissions.test_jobs import file_rows, stored_rewards
from tests.imports.test_imports_web import HX, PERIODS, REWARDS, TOKEN, request_preview, upload
from webapp.csvio import RowError, data_rows
from webapp.extensions import db
from webapp.imports import importing
from webapp.imports.background import IMPORT, IMPORT_CHECK, UPLOADS, kept_file_rows
from webapp.imports.checks import ErrorLog
from webapp.imports.importing import ImportReport, import_file
from webapp.imports.locked import LockedPeriod
from webapp.jobs import queue
from webapp.models import CanonicalStakerRewardsDetail, Job, StagingPayload
from webapp.vocab import JobStatus

pytestmark = pytest.mark.usefixtures("uploads_in_tmp")

#: Four rows, with amounts a float would not keep exact.
BIG = REWARDS + "solana,801,V2,S3,MEV,0.000000000000000007\n"
#: Four rows, one of them refused twice (an unknown period, a negative amount).
REFUSED = REWARDS + "solana,999,V1,S3,MEV,-1\n"
CHECKED = re.compile(r"/imports/checked/([\w-]+)")


@pytest.fixture
def periods(app, tmp_path):
    """Solana with periods 800 and 801; a bound of two rows (`BIG` is checked by a job),
    every progress step written."""
    app.config["BACKGROUND_AFTER_ROWS"] = 2
    app.config["JOB_PROGRESS_SECONDS"] = 0
    factories.chain("solana")
    path = tmp_path / "periods.csv"
    path.write_text(PERIODS)
    assert import_file("periods", str(path), "manual-upload").ok


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def job_of(answer) -> Job:
    """The job a preview queued: its answer leads to the job's page."""
    location = answer.headers.get("HX-Redirect") or answer.headers["Location"]
    assert location.startswith("/jobs/"), location
    db.session.expire_all()
    return db.session.get(Job, uuid.UUID(location.rsplit("/", 1)[1]))


def run_job(job: Job) -> Job:
    """Let the worker run its one waiting job, `job`; the job as it ended."""
    assert queue.run_one() == job.job_id
    db.session.expire_all()
    return db.session.get(Job, job.job_id)


def same_page(html: str) -> str:
    """The fragment without what differs between two uploads of one file: their tokens and
    the form's CSRF value."""
    html = re.sub(r"/imports/(commit|discard)/[\w-]+", r"/imports/\1/TOKEN", html)
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', html)


def errors_table(html: str) -> str:
    match = re.search(r'<table class="striped import-errors">.*?</table>', html, re.S)
    assert match, html
    return match.group(0)


def test_data_rows_counts_the_lines_after_the_header(tmp_path):
    def rows(data: bytes) -> int:
        path = tmp_path / "file.csv"
        path.write_bytes(data)
        return kept_file_rows(str(path))

    assert rows(b"") == 0
    assert rows(b"a,b\n") == 0
    assert rows(b"a,b") == 0
    assert rows(b"a,b\n1,2\n3,4\n") == 2
    assert rows(b"a,b\r\n1,2\r\n3,4") == 2  # no line break after the last row


def test_data_rows_counts_the_same_whatever_the_chunks():
    """The count the wallet upload takes of its bytes whole and the import of its file in
    chunks is one: a line break at a chunk's edge, an empty chunk, a last line without one."""
    whole = b"a,b\n1,2\n3,4"
    assert data_rows([whole]) == 2
    assert data_rows([b"a,b\n1,2\n", b"3,4"]) == 2
    assert data_rows([b"a,b\n1,", b"2\n3,4\n", b""]) == 2
    assert data_rows([b"a,b\n1,2\n3,4\n"]) == data_rows([b"a,b\n", b"1,2\n", b"3,4\n"]) == 2
    assert data_rows([]) == data_rows([b""]) == 0


def test_a_file_at_the_bound_is_checked_at_once_and_one_row_more_is_queued(
    app, manager_client, periods
):
    app.config["BACKGROUND_AFTER_ROWS"] = 3
    at_bound = REWARDS.rstrip("\n")  # three rows, the last without a line break
    answer = upload(manager_client, at_bound, name="three.csv")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "three.csv is ready to import: 3 staker reward rows" in html
    assert TOKEN.search(html) and count(Job) == 0

    answer = upload(manager_client, BIG, name="four.csv")
    job = job_of(answer)
    assert answer.status_code == 200 and answer.get_data() == b""  # htmx follows the header
    assert job.kind == IMPORT_CHECK and job.status == JobStatus.QUEUED
    assert job.created_by.role == "manager"
    token = job.parameters["token"]
    assert UPLOADS.load(token, job.created_by_user_id).file_name == "four.csv"
    # Without htmx the answer is a redirect to the job's page.
    plain = manager_client.post(
        "/imports/preview",
        data={
            "file": (io.BytesIO(BIG.encode()), "plain.csv"),
            "kind": "staker-rewards",
            "provider": "jito",
        },
        content_type="multipart/form-data",
    )
    assert plain.status_code == 303 and job_of(plain).kind == IMPORT_CHECK
    assert count(Job) == 2


def test_a_queued_check_shows_what_the_request_shows_then_imports_the_file(
    app, manager_client, periods, monkeypatch, heard_progress
):
    in_request = request_preview(app, manager_client, BIG)
    assert in_request.status_code == 200
    manager_client.post(
        f"/imports/discard/{TOKEN.search(in_request.get_data(as_text=True)).group(1)}", headers=HX
    )
    monkeypatch.setattr(importing, "PROGRESS_ROWS", 1)
    heard = heard_progress

    job = job_of(upload(manager_client, BIG))
    token = job.parameters["token"]
    page = manager_client.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    assert "Data import check" in page and "<progress" in page
    early = manager_client.get(f"/imports/checked/{token}")
    assert early.status_code == 404 and "has not finished yet" in early.get_data(as_text=True)

    job = run_job(job)
    assert job.status == JobStatus.DONE, job.error
    assert (
        job.result["summary"]
        == "r.csv is ready to import: 4 staker reward rows on solana (800, 801)"
    )
    assert job.result["endpoint"] == "imports.checked"
    assert job.result["values"] == {"token": token}
    size = len(BIG.encode())
    assert (job.progress_done, job.progress_total) == (size, size)
    # The bar moved: a step per row read, then the end.
    assert [m for _, _, m in heard] == [f"{n:,} row(s) checked" for n in (1, 2, 3, 4, 4)]
    assert {t for _, t, _ in heard} == {size} and heard[-1][0] == size
    # A check stores nothing.
    assert count(CanonicalStakerRewardsDetail) == 0 and count(StagingPayload) == 1

    fragment = manager_client.get(f"/jobs/{job.job_id}", headers=HX).get_data(as_text=True)
    assert CHECKED.search(fragment).group(1) == token
    assert "See the check of r.csv and import it" in fragment
    checked = manager_client.get(f"/imports/checked/{token}", headers=HX)
    assert checked.status_code == 200
    assert same_page(checked.get_data(as_text=True)) == same_page(in_request.get_data(as_text=True))
    html = checked.get_data(as_text=True)
    assert "0.300000000000000001" in html and "0.000000000000000007" in html  # exact totals
    assert "4 rows read" in html

    whole = manager_client.get(f"/imports/checked/{token}").get_data(as_text=True)
    assert "<html" in whole and 'value="jito"' in whole  # the page, its form as it was sent
    commit = re.search(r'action="(/imports/commit/[\w-]+)"', whole).group(1)
    assert commit == f"/imports/commit/{token}"
    import_job = job_of(manager_client.post(commit))  # four rows: imported by a job too
    assert import_job.kind == IMPORT and count(CanonicalStakerRewardsDetail) == 0
    import_job = run_job(import_job)
    assert import_job.status == JobStatus.DONE, import_job.error
    assert stored_rewards() == file_rows(BIG)
    payload = db.session.scalars(
        select(StagingPayload).where(StagingPayload.kind == "staker-rewards")
    ).one()
    assert payload.row_count == 4 and payload.file_name == "r.csv"
    assert manager_client.get(f"/imports/checked/{token}").status_code == 404  # file dropped


def test_a_refused_file_shows_every_refused_row_and_offers_no_commit(app, manager_client, periods):
    in_request = request_preview(app, manager_client, REFUSED)
    assert in_request.status_code == 422

    job = run_job(job_of(upload(manager_client, REFUSED)))
    token = job.parameters["token"]
    assert job.status == JobStatus.DONE, job.error
    assert job.result["summary"] == (
        "r.csv was not imported: 2 errors in its rows; nothing was stored"
    )
    assert job.result["values"] == {"token": token}
    checked = manager_client.get(f"/imports/checked/{token}", headers=HX)
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200
    assert errors_table(html) == errors_table(in_request.get_data(as_text=True))
    assert "Rows refused (2)" in html
    assert "no period labelled &#39;999&#39;" in html and "amount &#39;-1&#39; is negative" in html
    assert TOKEN.search(html) is None  # no commit
    assert manager_client.post(f"/imports/commit/{token}").status_code == 404
    assert count(CanonicalStakerRewardsDetail) == 0 and count(Job) == 1

    # The refused file is kept until it is discarded from its page.
    assert f"/imports/discard/{token}" in html
    assert manager_client.post(f"/imports/discard/{token}", headers=HX).status_code == 200
    gone = manager_client.get(f"/imports/checked/{token}")
    assert gone.status_code == 404 and "upload the file again" in gone.get_data(as_text=True)


def test_a_check_whose_file_is_gone_fails(manager_client, periods):
    job = job_of(upload(manager_client, BIG))
    manager_client.post(f"/imports/discard/{job.parameters['token']}", headers=HX)
    job = run_job(job)
    assert job.status == JobStatus.FAILED
    assert job.error == "this upload is unknown or has expired: upload the file again"


def test_only_the_uploader_opens_the_checked_page(
    app, manager_client, client, periods, make_user, login
):
    job = run_job(job_of(upload(manager_client, BIG)))
    token = job.parameters["token"]
    other = login(app.test_client(), make_user("manager"))
    refused = other.get(f"/imports/checked/{token}")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 403
    assert "This check is not yours: this upload belongs to another user" in html
    assert "ready to import" not in html and f"/imports/commit/{token}" not in html
    assert other.get(f"/imports/checked/{'x' * 32}").status_code == 404
    signed_out = client.get(f"/imports/checked/{token}")
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    # The uploader still can.
    assert manager_client.get(f"/imports/checked/{token}").status_code == 200


def test_a_viewer_cannot_queue_a_check(viewer_client, periods):
    assert upload(viewer_client, BIG).status_code == 403
    assert count(Job) == 0


def test_queueing_a_check_needs_the_csrf_token(manager_client, periods):
    del manager_client.environ_base["HTTP_X_CSRFTOKEN"]
    assert upload(manager_client, BIG).status_code == 400
    assert count(Job) == 0


def test_a_report_survives_json_whole(app):
    errors = ErrorLog(limit=2)
    errors.errors = [RowError(3, "period", "no period labelled '9'"), RowError(5, "", "bad")]
    errors.more = 7
    report = ImportReport(
        kind="staker-rewards",
        file_name="r.csv",
        provider_name="jito",
        sha256="ab" * 32,
        replace=True,
        dry_run=True,
        row_count=12,
        period_rows=Counter({("solana", "800"): 10, ("solana", "801"): 2}),
        totals={
            ("solana", "801", "REWARDS"): Decimal("5"),
            ("solana", "800", "MEV"): Decimal("0.100000000000000001"),
            ("solana", "800", "TIPS"): Decimal("1E-18"),
        },
        replaced={("solana", "800"): 4},
        errors=errors,
        problem="the file has a header but no rows",
        payload_id=uuid.uuid4(),
        new_provider=True,
        earlier_payload_id=uuid.uuid4(),
        locked=[
            LockedPeriod(
                "solana",
                "800",
                datetime(2025, 10, 1, tzinfo=UTC),
                "Acme",
                "Acme SOL",
                uuid.uuid4(),
                "approved",
            )
        ],
    )
    defaults = ImportReport(kind="", file_name="")
    for f in dataclasses.fields(ImportReport):
        if f.name != "errors":  # every field differs from its default: none can be dropped
            assert getattr(report, f.name) != getattr(defaults, f.name), f.name

    again = ImportReport.from_json(json.loads(json.dumps(report.to_json())))
    assert set(report.to_json()) == {f.name for f in dataclasses.fields(ImportReport)}
    for f in dataclasses.fields(ImportReport):
        if f.name == "errors":
            continue
        assert getattr(again, f.name) == getattr(report, f.name), f.name
        assert type(getattr(again, f.name)) is type(getattr(report, f.name)), f.name
    assert list(again.totals) == list(report.totals)  # in the report's order
    assert all(type(amount) is Decimal for amount in again.totals.values())
    assert [str(amount) for amount in again.totals.values()] == [
        "5",
        "0.100000000000000001",
        "1E-18",
    ]
    assert again.locked[0].start_time.tzinfo is not None
    assert (again.errors.limit, again.errors.errors, again.errors.more) == (2, errors.errors, 7)
    assert again.errors.count == 9 and again.headline() == report.headline()
