"""JSON API speed on PostgreSQL: listing 10,000 wallets page by page, and a 100,000-row bulk
upload (a dry run, then the real one). Prints its figures.

    DATABASE_URL=postgresql://postgres@127.0.0.1/api_bench \\
        .venv/bin/python bench/bench_api.py --reset

Every request goes through the Flask test client with a bearer token, as a client would.
The database's tables are dropped and created again (hence --reset): use a database of its own.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_wallets import scratch_app, timed, wallet_file  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from webapp.api.tokens import create_token  # noqa: E402
from webapp.auth.service import create_user  # noqa: E402
from webapp.chains.service import add_chain  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import PartnerWallet  # noqa: E402
from webapp.partners.service import create_partner  # noqa: E402
from webapp.wallets.upload import check_file, commit_file  # noqa: E402


def list_all(client, url, headers, limit):
    """Every wallet of the list, page by page; returns (wallets, pages, seconds per page)."""
    cursor, seen, page_times = None, 0, []
    while True:
        query = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response, seconds = timed(lambda q=query: client.get(url, query_string=q, headers=headers))
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        body = response.get_json()
        seen += len(body["items"])
        page_times.append(seconds)
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, page_times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--listed", type=int, default=10_000, help="wallets to list")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the bulk upload")
    parser.add_argument("--reset", action="store_true", help="drop and create the tables")
    args = parser.parse_args()
    app = scratch_app(args.database_url, args.reset, "api-bench-")
    if app is None:
        return 2
    with app.app_context():
        add_chain("solana", "Solana", "SOL", 9, "base58-32")
        listed = create_partner("Listed Partner")
        bulk = create_partner("Bulk Partner")
        user, _ = create_user("bench-manager@example.com", "manager", "bench password")
        headers = {"Authorization": "Bearer " + create_token(user, "bench", "write").secret}
        commit_file(listed, wallet_file(args.listed, seed=1, newline="\n"), "listed.csv")
        db.session.execute(db.text("ANALYZE partner_wallets"))
        db.session.commit()
        client = app.test_client()

        url = f"/api/v1/partners/{listed.partner_id}/wallets"
        for limit in (50, 500):
            (seen, page_times), total = timed(lambda lim=limit: list_all(client, url, headers, lim))
            assert seen == args.listed, seen
            print(
                f"list {seen:,} wallets, limit {limit}: {len(page_times)} pages in {total:.2f} s; "
                f"page median {statistics.median(page_times) * 1000:.1f} ms, "
                f"max {max(page_times) * 1000:.1f} ms"
            )

        data = wallet_file(args.rows, seed=2, newline="\n")
        bulk_url = f"/api/v1/partners/{bulk.partner_id}/wallets/bulk"
        print(f"bulk file: {args.rows:,} rows, {len(data) / 1e6:.1f} MB")
        for dry_run in (True, False):
            response, seconds = timed(
                lambda d=dry_run: client.post(
                    bulk_url,
                    data=data,
                    content_type="text/csv",
                    query_string={"dry_run": "true" if d else "false"},
                    headers=headers,
                )
            )
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            assert response.get_json()["new"] == args.rows
            label = "dry run (check, answer every row)" if dry_run else "store (check + insert)"
            print(f"bulk {label}: {seconds:.2f} s")
        stored = db.session.scalar(
            select(func.count()).where(PartnerWallet.partner_id == bulk.partner_id)
        )
        assert stored == args.rows, stored

        # The same work without HTTP, as the page and the command line call it: the difference
        # is what the API itself costs.
        direct = create_partner("Direct Partner")
        other = wallet_file(args.rows, seed=3, newline="\n")
        _, check_s = timed(lambda: check_file(direct, other))
        result, store_s = timed(lambda: commit_file(direct, other, "direct.csv"))
        assert result.added == args.rows
        print(f"for comparison, the service alone: check {check_s:.2f} s, store {store_s:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
