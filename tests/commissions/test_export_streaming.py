"""The range export and its summary as a served request sends them: the body goes out after
the view has returned and Flask has removed the request's session, so rows still to be read
must not depend on that session (on PostgreSQL its server-side cursor closes with it).

The Flask test client cannot show this: the `app` fixture keeps one app context open for
the whole test, and a request run inside it never tears its session down. A real server on
threads, as gunicorn's gthread workers serve the app, does.
"""

import csv
import io
import threading
import urllib.request
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import insert
from werkzeug.serving import make_server

from tests import factories
from tests.security.test_threads import _sign_in
from webapp.extensions import db
from webapp.models import AuditLog, CommissionRun, CommissionRunPeriod, PartnerCommissionLine
from webapp.vocab import LineKind, Method, RunStatus

#: More lines than one fetch of a streamed download (10,000 rows), so the file needs several.
LINES = 10_050


@pytest.fixture
def committed(app):
    """A partner with one committed run of `LINES` lines in January 2025; returns the partner
    and the sum of the commission amounts inserted."""
    partner = factories.partner("Acme Wallet", "solana")
    agreement = factories.agreement(partner, "MEV=500")
    source = factories.payload(factories.provider(), "periods")
    period = factories.period(source, "701", factories.utc(2025, 1, 1), factories.utc(2025, 1, 2))
    run = CommissionRun(
        partner_id=partner.partner_id,
        agreement_id=agreement.agreement_id,
        date_from=date(2025, 1, 1),
        date_to=date(2025, 1, 31),
        method=Method.TOTAL_REVENUE,
        status=RunStatus.COMMITTED,
        line_count=LINES,
        total_base_native=0,
        total_commission_native=0,
        excluded_amount_native=0,
    )
    db.session.add(run)
    db.session.flush()
    db.session.add(
        CommissionRunPeriod(
            agreement_id=agreement.agreement_id, period_id=period.period_id, run_id=run.run_id
        )
    )
    amounts = [Decimal(n) + Decimal("0.000000000000000001") for n in range(LINES)]
    db.session.execute(
        insert(PartnerCommissionLine),
        [
            {
                "line_id": uuid.uuid4(),
                "run_id": run.run_id,
                "agreement_id": agreement.agreement_id,
                "partner_id": partner.partner_id,
                "period_id": period.period_id,
                "validator_key": "Vote111",
                "revenue_component": "MEV",
                "wallet_address": f"wallet-{n:06d}",
                "base_amount_native": amount * 20,
                "commission_rate_bps": 500,
                "commission_amount_native": amount,
                "line_kind": LineKind.COMMISSION,
            }
            for n, amount in enumerate(amounts)
        ],
    )
    db.session.commit()
    return partner, sum(amounts, Decimal(0))


@pytest.fixture
def download(app, make_user):
    """Fetch a path from the app served on threads, signed in as a viewer; returns the CSV
    rows, header first."""
    user = make_user("viewer")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_port
    cookie = _sign_in(port, user.email)

    def get(path: str) -> list[list[str]]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            body = response.read().decode("utf-8-sig")
        return list(csv.reader(io.StringIO(body)))

    yield get
    server.shutdown()
    thread.join(timeout=5)


def _range(partner) -> str:
    return f"partner={partner.partner_id}&date_from=2025-01-01&date_to=2025-01-31"


def test_export_sends_every_line(committed, download):
    partner, total = committed
    rows = download(f"/commissions/export.csv?{_range(partner)}")
    assert rows[0][12] == "commission_amount_native"
    assert len(rows) - 1 == LINES
    assert sum((Decimal(row[12]) for row in rows[1:]), Decimal(0)) == total


def test_summary_counts_every_line(committed, download):
    partner, total = committed
    rows = download(f"/commissions/summary.csv?{_range(partner)}")
    sums = [(int(row[6]), Decimal(row[7]), Decimal(row[8])) for row in rows[1:]]
    assert sums == [(LINES, total * 20, total)]


def test_audit_history_sends_every_entry(app, download):
    """More entries than one fetch of the history file (2,000), each with one changed field."""
    count = 2_150
    db.session.execute(
        insert(AuditLog),
        [
            {
                "audit_id": uuid.uuid4(),
                "action": "wallet.update",
                "entity_type": "wallet",
                "entity_id": f"w-{n:05d}",
                "before": '{"note": "old"}',
                "after": f'{{"note": "{n}"}}',
                "created_at": factories.utc(2025, 1, 1),
            }
            for n in range(count)
        ],
    )
    db.session.commit()
    rows = download("/audit/history.csv?entity_type=wallet")
    assert len(rows) - 1 == count
    assert sorted(int(row[-1]) for row in rows[1:]) == list(range(count))
