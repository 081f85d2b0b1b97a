"""Payables page and a payout's statement at a large partner's scale on PostgreSQL; prints
its figures beside a floor taken in the same run.

The world of bench_commissions (10,000 wallets x 30 daily periods, about 606,000 commission
lines once committed) is committed over the year, approved by a second manager and paid as one
payout. Times, over --repeat asks each: the payables page (target < 100 ms), the payout's
page, its statement as CSV and as PDF (target < 2 s). The floor is one aggregate over every
commission line of the payout (what the statement must at least read).

    .venv/bin/python bench/bench_payouts.py [--url postgresql://postgres@127.0.0.1/commissions_bench]
        [--reuse] [--repeat 5]

Without --reuse the database is generated anew (about a minute), as bench_commissions does.
"""

import argparse
import gc
import os
import statistics
import sys
import time
from datetime import date

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench_commissions  # noqa: E402 - after the path is set

PAGE_TARGET_MS = 100
PDF_TARGET_MS = 2000


def _close_and_pay(app) -> str:
    """Commit, approve and pay the bench partner's year; the payout's id."""
    from sqlalchemy import select, text

    from webapp.auth.service import create_user
    from webapp.commissions import committing, lifecycle
    from webapp.extensions import db
    from webapp.models import Payout, User
    from webapp.partners.service import find_partner_by_name
    from webapp.payouts import service as payouts

    with app.app_context():
        for table in (
            "commission_run_events",
            "commission_locks",
            "commission_run_periods",
            "commission_exclusions",
            "partner_commission_lines",
            "commission_runs",
            "payouts",
        ):
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        people = {}
        for email in ("ann@example.com", "bob@example.com", "bench@example.com"):
            user = db.session.scalar(select(User).where(User.email == email))
            if user is None:
                role = "admin" if email.startswith("bench") else "manager"
                user, _ = create_user(email, role, "bench-password")
            people[email] = user
        partner = find_partner_by_name(bench_commissions.PARTNER)
        began = time.perf_counter()
        committing.commit(
            partner, date(2025, 1, 1), date(2025, 12, 31), user=people["ann@example.com"]
        )
        lifecycle.approve_runs(
            partner, date(2025, 1, 1), date(2025, 12, 31), people["bob@example.com"]
        )
        chain_id = db.session.scalar(text("SELECT chain_id FROM agreements LIMIT 1"))
        payouts.pay(partner, chain_id, people["bob@example.com"], "BENCH-1")
        print(f"setup: commit, approval and payout in {time.perf_counter() - began:.1f} s")
        payout_id = db.session.scalar(select(Payout.payout_id))
        user_id, generation = (
            people["bench@example.com"].user_id,
            people["bench@example.com"].session_generation,
        )
        db.session.remove()
    return payout_id, user_id, generation


def _timed(call, repeat: int) -> list[float]:
    figures = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        figures.append((time.perf_counter() - began) * 1000)
    return figures


def _line(name: str, figures: list[float], target: float | None = None) -> str:
    median = statistics.median(figures)
    spread = f"min {min(figures):.0f} / median {median:.0f} / max {max(figures):.0f} ms"
    aim = f" (target < {target:.0f} ms)" if target else ""
    return f"{name}: {spread}{aim}"


def measure(url: str, repeat: int) -> None:
    """Time the pages and files through the test client, signed in as an admin."""
    from sqlalchemy import text

    from webapp.extensions import db
    from webapp.web import SESSION_GENERATION_KEY

    app = bench_commissions.make_app(url)
    payout_id, user_id, generation = _close_and_pay(app)
    gc.freeze()  # as a served worker does (wsgi.py)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
        session[SESSION_GENERATION_KEY] = generation

    def ask(path):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        return answer.data

    with app.app_context():
        lines = db.session.scalar(
            text(
                "SELECT count(*) FROM partner_commission_lines l JOIN commission_run_periods p"
                " USING (agreement_id, period_id) JOIN commission_runs r ON r.run_id = p.run_id"
                " WHERE r.payout_id = :payout"
            ),
            {"payout": payout_id},
        )

        def floor():
            db.session.execute(
                text(
                    "SELECT l.revenue_component, sum(l.commission_amount_native)"
                    " FROM partner_commission_lines l JOIN commission_run_periods p"
                    " USING (agreement_id, period_id) JOIN commission_runs r"
                    " ON r.run_id = p.run_id WHERE r.payout_id = :payout"
                    " GROUP BY l.revenue_component"
                ),
                {"payout": payout_id},
            ).all()

        floor_ms = _timed(floor, repeat)
        db.session.remove()
    print(f"payout of {lines:,} commission lines")
    print(_line("floor: one aggregate over the payout's lines", floor_ms))
    ask("/payouts/")  # first ask: templates compiled
    print(_line("payables page", _timed(lambda: ask("/payouts/"), repeat), PAGE_TARGET_MS))
    print(_line("paid tab", _timed(lambda: ask("/payouts/?status=paid"), repeat), PAGE_TARGET_MS))
    print(_line("payout page", _timed(lambda: ask(f"/payouts/{payout_id}"), repeat)))
    print(
        _line("statement CSV", _timed(lambda: ask(f"/payouts/{payout_id}/statement.csv"), repeat))
    )
    print(
        _line(
            "statement PDF",
            _timed(lambda: ask(f"/payouts/{payout_id}/statement.pdf"), repeat),
            PDF_TARGET_MS,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get("BENCH_DATABASE_URL", bench_commissions.DEFAULT_URL)
    )
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--wallets", type=int, default=10000)
    parser.add_argument("--periods", type=int, default=30)
    args = parser.parse_args()
    if not args.reuse:
        began = time.perf_counter()
        bench_commissions.recreate_database(args.url)
        bench_commissions.generate(args.url, args.wallets, args.periods)
        print(f"generated in {time.perf_counter() - began:.1f} s")
    measure(args.url, args.repeat)


if __name__ == "__main__":
    main()
