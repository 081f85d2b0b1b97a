"""The Data imports page: upload, preview, commit, history, payload rows and totals,
with the HX headers htmx really sends, on SQLite and PostgreSQL."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.insight_html import plain_amounts
from webapp.extensions import db
from webapp.imports.importing import import_file
from webapp.models import CanonicalStakerRewardsDetail, StagingPayload

HX = {"HX-Request": "true"}
PERIODS = (
    "chain_id,label,start_time,end_time\n"
    "solana,800,2025-10-01T00:00:00Z,2025-10-03T00:00:00Z\n"
    "solana,801,2025-10-03T00:00:00Z,2025-10-05T00:00:00Z\n"
)
REWARDS = (
    "chain_id,period,validator_key,staker_address,revenue_component,reward_amount_native\n"
    "solana,800,V1,S1,MEV,0.100000000000000001\n"
    "solana,800,V1,S2,MEV,0.2\n"
    "solana,801,V1,S1,REWARDS,5\n"
)
TOKEN = re.compile(r"/imports/commit/([\w-]+)")


@pytest.fixture
def periods(app, tmp_path):
    """Solana with periods 800 and 801."""
    factories.chain("solana")
    path = tmp_path / "periods.csv"
    path.write_text(PERIODS)
    assert import_file("periods", str(path), "manual-upload").ok


def upload(client, text, kind="staker-rewards", provider="jito", replace=False, name="r.csv"):
    data = {"file": (io.BytesIO(text.encode()), name), "kind": kind, "provider": provider}
    if replace:
        data["replace"] = "y"
    return client.post(
        "/imports/preview", data=data, headers=HX, content_type="multipart/form-data"
    )


def request_preview(app, client, text: str, **options):
    """The preview of `text` checked in the request: the bound of rows over which a file is
    checked by a job is raised for it alone."""
    bound = app.config["BACKGROUND_AFTER_ROWS"]
    app.config["BACKGROUND_AFTER_ROWS"] = len(text.splitlines())
    try:
        return upload(client, text, **options)
    finally:
        app.config["BACKGROUND_AFTER_ROWS"] = bound


def rewards_count() -> int:
    return db.session.scalar(select(func.count()).select_from(CanonicalStakerRewardsDetail))


def test_page_shows_upload_to_managers_only(manager_client, viewer_client, periods):
    manager_page = manager_client.get("/imports/").get_data(as_text=True)
    assert "Drop a CSV file here" in manager_page
    assert "periods.csv" in manager_page  # the history
    viewer_page = viewer_client.get("/imports/").get_data(as_text=True)
    assert "Drop a CSV file here" not in viewer_page
    assert "periods.csv" in viewer_page


def test_viewer_cannot_preview_commit_or_discard(viewer_client, periods):
    assert upload(viewer_client, REWARDS).status_code == 403
    assert viewer_client.post("/imports/commit/abc").status_code == 403
    assert viewer_client.post("/imports/discard/abc").status_code == 403


def test_preview_then_commit_stores_the_rows(manager_client, periods):
    preview = upload(manager_client, REWARDS)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "<html" not in html  # the fragment alone
    assert "r.csv is ready to import: 3 staker reward rows on solana (800, 801)" in html
    assert "0.300000000000000001" in html  # exact total of MEV in 800
    assert rewards_count() == 0
    token = TOKEN.search(html).group(1)

    done = manager_client.post(f"/imports/commit/{token}")
    assert done.status_code == 302
    payload = db.session.scalar(select(StagingPayload).where(StagingPayload.file_name == "r.csv"))
    assert done.headers["Location"].endswith(f"/imports/payloads/{payload.payload_id}")
    assert payload.row_count == 3 and payload.created_by is not None
    assert rewards_count() == 3

    detail = manager_client.get(done.headers["Location"]).get_data(as_text=True)
    assert "imported 3 staker reward rows from r.csv" in detail  # the flash
    assert "S2" in detail and "0.100000000000000001" in detail
    history = manager_client.get("/imports/").get_data(as_text=True)
    assert "r.csv" in history and payload.created_by.email in history

    # The staged file is gone once committed.
    assert manager_client.post(f"/imports/commit/{token}").status_code == 404


def test_preview_with_bad_rows_lists_them_and_offers_no_commit(manager_client, periods):
    bad = REWARDS + "solana,999,V1,S3,MEV,-1\n"
    response = upload(manager_client, bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "2 errors in its rows; nothing was stored" in html
    assert "no period labelled &#39;999&#39;" in html
    assert "amount &#39;-1&#39; is negative" in html
    assert TOKEN.search(html) is None
    assert rewards_count() == 0


def test_preview_needs_a_file_and_a_provider(manager_client, periods):
    response = upload(manager_client, REWARDS, provider="")
    assert response.status_code == 400
    assert "Name the provider the file comes from." in response.get_data(as_text=True)
    no_file = manager_client.post(
        "/imports/preview", data={"kind": "staker-rewards", "provider": "j"}, headers=HX
    )
    assert no_file.status_code == 400
    assert "Choose a CSV file to upload." in no_file.get_data(as_text=True)


def test_duplicate_file_is_refused_in_the_preview(manager_client, periods):
    token = TOKEN.search(upload(manager_client, REWARDS).get_data(as_text=True)).group(1)
    manager_client.post(f"/imports/commit/{token}")
    again = upload(manager_client, REWARDS, name="again.csv")
    assert again.status_code == 422
    assert "the same file was imported before as payload" in again.get_data(as_text=True)


def test_commit_rechecks_the_file(manager_client, periods, tmp_path):
    token = TOKEN.search(upload(manager_client, REWARDS).get_data(as_text=True)).group(1)
    # Meanwhile the same rows arrive from the command line.
    other = tmp_path / "cli.csv"
    other.write_text(REWARDS + "\n")
    assert import_file("staker-rewards", str(other), "jito").ok
    response = manager_client.post(f"/imports/commit/{token}")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "The stored data changed since the preview" in html
    assert "is stored (payload" in html
    assert rewards_count() == 3


def test_replace_through_the_page(manager_client, periods, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text(REWARDS)
    assert import_file("staker-rewards", str(first), "jito").ok
    fix = REWARDS.splitlines()[0] + "\nsolana,800,V1,S1,MEV,7\n"
    html = upload(manager_client, fix, replace=True).get_data(as_text=True)
    assert "would replace 2 stored rows" in html
    token = TOKEN.search(html).group(1)
    assert manager_client.post(f"/imports/commit/{token}").status_code == 302
    assert rewards_count() == 2  # 800 replaced by one row, 801 kept


def test_someone_elses_staged_file_cannot_be_committed(
    app, manager_client, periods, make_user, login
):
    token = TOKEN.search(upload(manager_client, REWARDS).get_data(as_text=True)).group(1)
    other = login(app.test_client(), make_user("manager"))
    assert other.post(f"/imports/commit/{token}").status_code == 404
    assert rewards_count() == 0


def test_discard_forgets_the_upload(manager_client, periods):
    token = TOKEN.search(upload(manager_client, REWARDS).get_data(as_text=True)).group(1)
    assert manager_client.post(f"/imports/discard/{token}", headers=HX).status_code == 200
    assert manager_client.post(f"/imports/commit/{token}").status_code == 404


def test_payload_rows_are_paginated(app, manager_client, periods, tmp_path):
    size = app.config["PAGE_SIZE"]
    path = tmp_path / "many.csv"
    header = REWARDS.splitlines()[0]
    path.write_text(
        header + "\n" + "".join(f"solana,800,V1,S{i:03},MEV,1\n" for i in range(size + 5))
    )
    report = import_file("staker-rewards", str(path), "jito")
    url = f"/imports/payloads/{report.payload_id}"
    first = manager_client.get(url).get_data(as_text=True)
    assert "Page 1 of 2" in first
    assert first.count('<td class="addr">S') == size
    second = manager_client.get(url + "?page=2", headers=HX).get_data(as_text=True)
    assert second.startswith('<div id="payload-rows"')
    assert second.count('<td class="addr">S') == 5
    assert manager_client.get("/imports/payloads/not-a-uuid").status_code == 404


def test_history_is_paginated_with_htmx(app, manager_client, periods, tmp_path):
    size = app.config["PAGE_SIZE"]
    for index in range(size):
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=index)
        end = start + timedelta(hours=1)
        path = tmp_path / f"p{index}.csv"
        path.write_text(
            "chain_id,label,start_time,end_time\n"
            f"solana,h{index},{start.isoformat()},{end.isoformat()}\n"
        )
        assert import_file("periods", str(path), "manual-upload").ok
    page_two = manager_client.get("/imports/?page=2", headers=HX).get_data(as_text=True)
    assert page_two.startswith('<div id="import-history"')
    assert "periods.csv" in page_two  # the oldest file is on the second page
    assert "Page 2 of 2" in page_two


def test_totals_per_period_and_component_are_exact(manager_client, periods, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(REWARDS)
    assert import_file("staker-rewards", str(path), "jito").ok
    fragment = manager_client.get("/imports/totals?chain=solana", headers=HX)
    html = fragment.get_data(as_text=True)
    assert html.startswith('<section id="import-totals"')
    assert "0.300000000000000001" in html
    assert ">5</td>" in plain_amounts(html)  # the shown amount's exact value
