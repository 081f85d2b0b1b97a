"""One request at a time: the light pages of the load bench's issue shape, each timed alone.

On the data `bench/bench_load.py --shape issue` left (run it first, or give --url of such a
database), a viewer signed in through the test client asks each light page (the partner
list, the big partner's page, a wallet search of it, the small partner's 12-month preview)
`--repeat` times after a few warm-up asks, and prints per page the median and p95 of its
wall time, its statements, their SQL time (wall) and the CPU time of this process
(Python: the app, the driver, the templates). `--profile PAGE` prints a cProfile of that
page's asks instead; `--statements PAGE` the statements of one ask with their times.

    .venv/bin/python bench/bench_light_pages.py --url postgresql://postgres@127.0.0.1/load_bench
        [--repeat 20] [--profile preview|list|partner|search] [--statements ...]
"""

import argparse
import cProfile
import gc
import os
import pstats
import re
import statistics
import sys
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import bench_load  # noqa: E402

WARM_UP = 3


def pages_of(ids: dict[str, str]) -> dict[str, tuple[str, dict]]:
    big, small = ids["big"], ids["small"]
    return {
        "list": ("/partners/", {}),
        "partner": (f"/partners/{big}", {}),
        "search": (
            f"/partners/{big}/wallets?" + urlencode({"q": ids["search"]}),
            {"HX-Request": "true"},
        ),
        "preview": (
            "/commissions/?"
            + urlencode({"partner": small, "date_from": "2025-01-01", "date_to": "2025-12-31"}),
            {},
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL"), required=False)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--profile", choices=("list", "partner", "search", "preview"))
    parser.add_argument("--statements", choices=("list", "partner", "search", "preview"))
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.url
    os.environ.setdefault("SECRET_KEY", "light-pages-bench")
    from sqlalchemy import event

    from webapp import create_app
    from webapp.extensions import db

    ids = bench_load.ids_of(args.url)
    app = create_app()
    gc.freeze()  # as wsgi.py does in a served worker
    sql: list[tuple[float, str]] = []
    began_at: dict[int, float] = {}
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        began_at[id(cursor)] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        sql.append((time.perf_counter() - began_at.pop(id(cursor)), statement))

    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login).group(1)
    answer = client.post(
        "/login",
        data={"email": "user0@load.example", "password": bench_load.PASSWORD, "csrf_token": token},
    )
    assert answer.status_code == 302, answer.status_code
    pages = pages_of(ids)
    with open("/proc/loadavg") as f:
        print(f"load average before: {f.read().split()[:3]}")
    if args.profile or args.statements:
        path, headers = pages[args.profile or args.statements]
        for _ in range(WARM_UP):
            assert client.get(path, headers=headers).status_code == 200
        if args.statements:
            del sql[:]
            client.get(path, headers=headers)
            for seconds, statement in sql:
                print(f"{seconds * 1000:7.2f} ms  {' '.join(statement.split())[:300]}")
            print(f"{len(sql)} statements, {sum(s for s, _ in sql) * 1000:.1f} ms")
            return
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.repeat):
            client.get(path, headers=headers)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(60)
        return
    for name, (path, headers) in pages.items():
        times, counts, sql_times, cpu_times = [], [], [], []
        for n in range(WARM_UP + args.repeat):
            del sql[:]
            began, cpu = time.perf_counter(), time.process_time()
            response = client.get(path, headers=headers)
            elapsed = time.perf_counter() - began
            cpu = time.process_time() - cpu
            assert response.status_code == 200, (path, response.status_code)
            if n >= WARM_UP:
                times.append(elapsed * 1000)
                counts.append(len(sql))
                sql_times.append(sum(s for s, _ in sql) * 1000)
                cpu_times.append(cpu * 1000)
        times.sort()
        print(
            f"{name:8s} median {statistics.median(times):6.1f} ms  p95 "
            f"{times[max(0, round(len(times) * 0.95) - 1)]:6.1f} ms  statements "
            f"{statistics.median(counts):.0f}  SQL median {statistics.median(sql_times):6.1f} ms  "
            f"Python CPU median {statistics.median(cpu_times):6.1f} ms"
        )
    with open("/proc/loadavg") as f:
        print(f"load average after: {f.read().split()[:3]}")
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main()
