"""Month-end overview and run page speed: 10 partners with 12 months of runs each (one
Solana and one Ethereum agreement per partner, every month committed, most approved, many
paid). Prints the median and worst of repeated requests through the Flask test client,
signed in as a manager, as the browser would ask.

    .venv/bin/python bench/bench_overview.py                       # SQLite, a temporary file
    DATABASE_URL=postgresql://postgres@127.0.0.1/closeui_bench \\
        .venv/bin/python bench/bench_overview.py --reset           # PostgreSQL

Target (issue 9): each page under 100 ms. With --reset the database's tables are dropped and
created again: use a database of its own.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sqlalchemy import insert, inspect  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.agreements.service import create_agreement, parse_rate_spec  # noqa: E402
from webapp.auth.service import create_user  # noqa: E402
from webapp.chains.service import add_chain  # noqa: E402
from webapp.commissions import committing, lifecycle  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import (  # noqa: E402
    CanonicalPeriod,
    CanonicalValidatorRevenue,
    Provider,
    StagingPayload,
)
from webapp.partners.service import create_partner  # noqa: E402

PASSWORD = "bench password, not secret"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PARTNERS, MONTHS, VALIDATORS = 10, 12, 3
REPEAT = 30


def month_start(index: int) -> date:
    return date(2025 + index // 12, 1 + index % 12, 1)


def build(app):
    """Chains, monthly periods with validator revenue, partners, agreements and their runs."""
    add_chain("solana", "Solana", "SOL", 9, "base58-32")
    add_chain("ethereum", "Ethereum", "ETH", 18, "evm")
    committer, _ = create_user("committer@example.com", "manager", PASSWORD)
    approver, _ = create_user("approver@example.com", "manager", PASSWORD)
    provider = Provider(name="bench")
    db.session.add(provider)
    db.session.flush()
    revenue = []
    for chain_id in ("solana", "ethereum"):
        payloads = {}
        for kind in ("periods", "validator-revenue"):
            payloads[kind] = StagingPayload(
                provider_id=provider.provider_id,
                chain_id=chain_id,
                kind=kind,
                file_name=f"{chain_id}-{kind}.csv",
                sha256=uuid.uuid4().hex * 2,
                row_count=1,
            )
            db.session.add(payloads[kind])
        db.session.flush()
        for index in range(MONTHS):
            start = month_start(index)
            period = CanonicalPeriod(
                period_id=uuid.uuid4(),
                chain_id=chain_id,
                label=start.strftime("%Y-%m"),
                start_time=datetime.combine(start, datetime.min.time(), tzinfo=UTC),
                end_time=datetime.combine(month_start(index + 1), datetime.min.time(), tzinfo=UTC),
                source_provider_id=provider.provider_id,
                source_payload_id=payloads["periods"].payload_id,
            )
            db.session.add(period)
            for v in range(VALIDATORS):
                for component in ("EXEC_FEES", "MEV", "REWARDS"):
                    revenue.append(
                        {
                            "revenue_id": uuid.uuid4(),
                            "chain_id": chain_id,
                            "period_id": period.period_id,
                            "validator_key": f"Validator{v}",
                            "revenue_component": component,
                            "amount_native": Decimal(f"{1000 + index}.123456789012345678"),
                            "source_provider_id": provider.provider_id,
                            "source_payload_id": payloads["validator-revenue"].payload_id,
                        }
                    )
    db.session.flush()
    db.session.execute(insert(CanonicalValidatorRevenue), revenue)
    db.session.commit()

    runs = []
    for p in range(PARTNERS):
        partner = create_partner(f"Partner {p:02d}")
        for chain_id in ("solana", "ethereum"):
            create_agreement(
                partner,
                chain_id,
                f"Partner {p:02d} {chain_id}",
                month_start(0),
                None,
                False,
                [parse_rate_spec("MEV=500"), parse_rate_spec("REWARDS=250")],
            )
        for index in range(MONTHS):
            first = month_start(index)
            last = month_start(index + 1) - timedelta(days=1)
            computation = committing.commit(partner, first, last, user=committer)
            runs.extend(o.run for o in computation.outcomes)
            if index < MONTHS - 2:
                for outcome in computation.outcomes:
                    lifecycle.approve_run(outcome.run, approver)
                    if index < MONTHS - 4:
                        lifecycle.pay_run(outcome.run, approver, f"PAY-{p}-{index}")
    return runs


def sign_in(client, email):
    page = client.get("/login").get_data(as_text=True)
    token = CSRF_INPUT.search(page).group(1)
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.status_code


def measure(client, url) -> list[float]:
    figures = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(url)
        figures.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--reset", action="store_true", help="drop and create the tables")
    args = parser.parse_args()
    scratch = None
    url = args.database_url
    if not url:
        handle, scratch = tempfile.mkstemp(suffix=".sqlite3")
        os.close(handle)
        url = f"sqlite:///{scratch}"
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": True}
    )
    with app.app_context():
        if inspect(db.engine).get_table_names():
            if not args.reset:
                print("error: the database has tables; pass --reset to drop them", file=sys.stderr)
                return 2
            db.drop_all()
        db.create_all()
        started = time.perf_counter()
        runs = build(app)
        print(
            f"{db.engine.dialect.name}: {PARTNERS} partners x {MONTHS} months x 2 agreements = "
            f"{len(runs)} runs, built in {time.perf_counter() - started:.1f} s"
        )
        client = app.test_client()
        sign_in(client, "committer@example.com")
        until = month_start(MONTHS - 1).strftime("%Y-%m")
        pages = {
            "overview (12 months)": f"/?until={until}&months={MONTHS}",
            "run page (paid run)": f"/commissions/runs/{runs[0].run_id}",
            "run page (committed run)": f"/commissions/runs/{runs[-1].run_id}",
        }
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            measure(client, pages["overview (12 months)"])
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        for name, url in pages.items():
            figures = measure(client, url)
            print(
                f"{name}: median {statistics.median(figures):.1f} ms, "
                f"worst {max(figures):.1f} ms over {REPEAT} requests (target < 100 ms)"
            )
        db.session.remove()
        db.engine.dispose()
    if scratch is not None:
        os.unlink(scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
