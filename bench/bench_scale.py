r"""Bench: one large partner's month on one PostgreSQL, from import to a commit after one new
period, each step beside floors measured in the same run; prints its figures.

N wallets x P daily periods x 3 components, each wallet staked with one of 3 validators
(default 100,000 x 30 x 3 = 9,000,000 staker reward rows; --wallets/--periods for smaller
runs), one partner with a wallet-attribution agreement. Steps, each in a child process
(its time from start to exit, its peak resident memory from the kernel, and the WAL the
server wrote meanwhile, server-wide):

- import: `flask import staker-rewards` of the P periods' rows;
- preview: the engine-free preview (summed by PostgreSQL, nothing kept), then asked again;
- commit: the first commit, then a commit again with nothing changed;
- one new period: its stake events and rewards imported, then the preview and the commit of
  the P periods ending with it, beside the same preview with nothing kept (cold);
- pages: through the Flask test client, signed in as a manager, home (/), the partner's page,
  the range page of the P periods last committed and that run's page, each asked
  PAGE_REPEAT times after PAGE_WARM_UP (p50 and p95; target p95 < 100 ms).

Floors, in the same run and on the same server: a bare `\copy` of the same rewards file into
an unindexed table of the same columns, and every reward row read out (`\copy (SELECT *
FROM canonical_staker_rewards_detail) TO /dev/null`); after the first commit, its lines
written again by a bare `INSERT ... SELECT` (already computed, in key order) into an empty
table like the lines table (its keys and checks, no triggers): what writing them costs
before anything is computed. Read ratios: the machine may be shared.

Every timed step and every floor starts after a `CHECKPOINT`, as the bare write always did:
no step pays for flushing the pages an earlier one left dirty (the import's 875 MB of WAL at
900,000 rows otherwise reaches `max_wal_size` during the first commit, which then flushes
them). A step's own checkpoints, those its WAL triggers, still count.
Peak memory is the client process's; the server's is not counted.

    .venv/bin/python bench/bench_scale.py [--url postgresql://postgres@127.0.0.1/scale_bench]
        [--wallets 100000] [--periods 30] [--keep] [--pages-only]

The database named in --url is emptied (its public schema dropped) first; with --pages-only
nothing is built: only the pages are timed, on the data a run before left there.
"""

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

from bench_imports import fresh_database  # the same bench database set-up
from sqlalchemy.engine import make_url

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
FLASK = [os.path.join(ROOT, ".venv", "bin", "flask"), "--app", "wsgi"]
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(raw: bytes) -> str:
    """Base58 (Bitcoin alphabet) of `raw`: a Solana address of 32 bytes."""
    number, text = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = BASE58[digit] + text
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + text


VALIDATORS = tuple(base58(bytes([n]) * 32) for n in (11, 22, 33))
COMPONENTS = ("EXEC_FEES", "MEV", "REWARDS")
START = datetime(2025, 1, 1, tzinfo=UTC)
PARTNER = "Scale Partner"
MANAGER = "manager@scale.example"
PASSWORD = "scale bench password, not secret"
PAGE_WARM_UP, PAGE_REPEAT = 3, 30
DEFAULT_URL = "postgresql://postgres@127.0.0.1/scale_bench"


# ---- The database and the files --------------------------------------------------------------


def psql_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def psql(url: str, command: str) -> float:
    """Run one psql command; its elapsed seconds."""
    began = time.perf_counter()
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", psql_url(url), "-c", command],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - began


def lines_write_floor(url: str) -> float:
    """Seconds to write the committed lines again, as they are, into an empty table like
    the lines table (its keys and checks), by one bare INSERT ... SELECT after a checkpoint."""
    psql(url, "CREATE UNLOGGED TABLE floor_lines_source AS SELECT * FROM partner_commission_lines")
    psql(url, "CREATE TABLE floor_lines (LIKE partner_commission_lines INCLUDING DEFAULTS "
              "INCLUDING CONSTRAINTS INCLUDING INDEXES)")  # fmt: skip
    psql(url, "CHECKPOINT")
    seconds = psql(url, "INSERT INTO floor_lines SELECT * FROM floor_lines_source")
    psql(url, "DROP TABLE floor_lines, floor_lines_source")
    return seconds


def wal_position(url: str) -> int:
    """The server's WAL insert position, in bytes (server-wide: other databases' writes on
    the same server count too)."""
    found = subprocess.run(
        ["psql", "-X", "-q", "-tA", psql_url(url), "-c",
         "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return int(found.stdout.strip().split(".")[0])


def write_files(folder: str, wallets: int, periods: int) -> dict[str, str]:
    """The CSV files: periods (P + 1), wallets, stake events before the first period and in
    the new one, rewards of the P periods and of the new one."""
    rnd = random.Random(22)
    paths = {name: os.path.join(folder, f"{name}.csv") for name in FILES}
    with open(paths["periods"], "w") as out:
        out.write("chain_id,label,start_time,end_time\n")
        for n in range(periods + 1):
            begin = START + timedelta(days=n)
            out.write(f"solana,D{n:03d},{begin.isoformat()},{(begin + timedelta(1)).isoformat()}\n")
    addresses = [base58(rnd.randbytes(32)) for _ in range(wallets)]
    with open(paths["wallets"], "w") as out:
        out.write("wallet_address,chain_id,introduced_date\n")
        out.writelines(f"{a},solana,2024-12-01\n" for a in addresses)
    event_header = (
        "chain_id,validator_key,staker_address,event_type,stake_amount_native,event_timestamp\n"
    )
    with open(paths["events"], "w") as out:
        out.write(event_header)
        when = START.isoformat()
        for n, address in enumerate(addresses):
            amount = rnd.randrange(1, 10**6)
            out.write(f"solana,{VALIDATORS[n % 3]},{address},STAKE,{amount},{when}\n")
    new_start = START + timedelta(days=periods)
    with open(paths["new_events"], "w") as out:
        out.write(event_header)
        for n, address in enumerate(addresses[: max(1, wallets // 100)]):
            when = (new_start + timedelta(minutes=rnd.randrange(24 * 60))).isoformat()
            amount = rnd.randrange(1, 10**4)
            out.write(f"solana,{VALIDATORS[n % 3]},{address},STAKE,{amount},{when}\n")

    def rewards(path, period_numbers):
        with open(path, "w") as out:
            out.write(
                "chain_id,period,validator_key,staker_address,revenue_component,"
                "reward_amount_native\n"
            )
            for p in period_numbers:
                lines = [
                    f"solana,D{p:03d},{VALIDATORS[n % 3]},{address},{component},"
                    f"{rnd.randrange(1, 10**12)}.{rnd.randrange(10**9):09d}\n"
                    for n, address in enumerate(addresses)
                    for component in COMPONENTS
                ]
                out.writelines(lines)

    rewards(paths["rewards"], range(periods))
    rewards(paths["new_rewards"], [periods])
    return paths


FILES = ("periods", "wallets", "events", "new_events", "rewards", "new_rewards")


# ---- Steps, each in a child process ------------------------------------------------------------


def run_child(args: list[str], env) -> tuple[float, float, str]:
    """Run a child to its end: (seconds, peak resident MiB, its output)."""
    began = time.perf_counter()
    child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed:\n{output}")
    return elapsed, usage.ru_maxrss / 1024, output


def flask(env, *args) -> tuple[float, float, str]:
    return run_child([*FLASK, *args], env)


def step(env, name: str, low: date, high: date) -> tuple[float, float, dict]:
    """One in-app step in a child (`--step`): (child seconds, peak MiB, what it printed:
    the step's own seconds, without the app's start, and its figures)."""
    args = [PYTHON, os.path.abspath(__file__), "--step", name]
    args += ["--from", low.isoformat(), "--to", high.isoformat()]
    elapsed, peak, output = run_child(args, env)
    return elapsed, peak, json.loads(output.strip().splitlines()[-1])


def percentile(times: list[float], share: float) -> float:
    """The nearest-rank percentile of `times`."""
    ordered = sorted(times)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)] if ordered else 0.0


def time_pages() -> dict:
    """The pages' p50 and p95 in ms (name -> [p50, p95]), signed in as a manager through
    the test client, each asked PAGE_REPEAT times after PAGE_WARM_UP; the last run committed
    for the partner names the range."""
    import re

    from sqlalchemy import select

    from webapp import create_app
    from webapp.auth.service import create_user
    from webapp.extensions import db
    from webapp.models import CommissionRun, Partner, User

    app = create_app()
    with app.app_context():
        if not db.session.scalar(select(User).where(User.email == MANAGER)):
            create_user(MANAGER, "manager", PASSWORD)
            db.session.commit()
        partner = db.session.scalars(select(Partner).where(Partner.name == PARTNER)).one()
        run = db.session.scalars(
            select(CommissionRun)
            .where(CommissionRun.partner_id == partner.partner_id)
            .order_by(CommissionRun.created_at.desc())
            .limit(1)
        ).one()
        pages = {
            "home": "/",
            "partner": f"/partners/{partner.partner_id}",
            "range": f"/commissions/?partner={partner.partner_id}"
            f"&date_from={run.date_from.isoformat()}&date_to={run.date_to.isoformat()}",
            "run": f"/commissions/runs/{run.run_id}",
        }
        db.session.remove()
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login).group(1)
    answer = client.post("/login", data={"email": MANAGER, "password": PASSWORD,
                                         "csrf_token": token})  # fmt: skip
    assert answer.status_code == 302, answer.status_code
    figures = {}
    for name, url in pages.items():
        times = []
        for n in range(PAGE_WARM_UP + PAGE_REPEAT):
            began = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - began) * 1000
            assert response.status_code == 200, (url, response.status_code)
            if n >= PAGE_WARM_UP:
                times.append(elapsed)
        figures[name] = [percentile(times, 0.5), percentile(times, 0.95)]
    with app.app_context():
        db.engine.dispose()
    return figures


def in_child(name: str, low: date, high: date) -> None:
    """The body of a step, in the child: print its own seconds and figures as JSON."""
    from sqlalchemy import delete, select

    from webapp import create_app
    from webapp.commissions import committing, results
    from webapp.extensions import db
    from webapp.models import KeptPeriod, KeptSummary, Partner

    if name == "pages":
        print(json.dumps(time_pages()))
        return
    app = create_app()
    with app.app_context():
        partner = db.session.scalars(select(Partner).where(Partner.name == PARTNER)).one()
        if name == "forget-summaries":
            db.session.execute(delete(KeptPeriod).where(KeptPeriod.kind == "summary"))
            db.session.execute(delete(KeptSummary))
            db.session.commit()
            print(json.dumps({"seconds": 0}))
            return
        if name == "compute":
            print(json.dumps({"seconds": compute_floor(partner, low, high)}))
            return
        began = time.perf_counter()
        if name == "preview":
            computation = results.preview(partner, low, high)
        else:
            computation = committing.commit(partner, low, high)
        seconds = time.perf_counter() - began
        outcome = computation.outcomes[0]
        result = outcome.result
        figures = {
            "seconds": seconds,
            "lines": result.line_count,
            "commission": str(result.total_commission_native),
            "summed": len(getattr(result, "summed", ())),
            "carried": bool(getattr(outcome, "unchanged", False)),
        }
        print(json.dumps(figures))


def compute_floor(partner, low: date, high: date) -> float:
    """Seconds for the first commit's own statement with its writes left out: every reward
    row graded and each period's figures summed, as the commit does it, on one process
    (a statement that writes never gets parallel workers), nothing kept or written. In one
    backend this and the bare write cannot overlap: their sum is a floor for the commit."""
    from sqlalchemy import text

    from webapp.agreements.queries import agreements_of_partner
    from webapp.commissions import set_based_lines
    from webapp.commissions.inputs import scope_of
    from webapp.extensions import db

    (agreement,) = agreements_of_partner(partner.partner_id, low, high)
    periods = scope_of(agreement, low, high)
    db.session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    began = time.perf_counter()
    figures = set_based_lines._computed(agreement, periods, None, ())
    seconds = time.perf_counter() - began
    db.session.rollback()
    assert sum(entry.line_count for entry in figures.values()), "nothing was graded"
    return seconds


def time_pages_step(env, read: float | None) -> None:
    """Time the pages in a child and print their p50 and p95 (and the reading floor)."""
    _, _, pages = step(env, "pages", START.date(), START.date())
    floor = f"; every reward row read out {read:.2f} s" if read else ""
    print(f"pages, {PAGE_REPEAT} requests each after {PAGE_WARM_UP} (target p95 < 100 ms){floor}")
    for name, (p50, p95) in pages.items():
        mark = "" if p95 < 100 else "  over the target"
        print(
            f"  {name:<10} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {p95 / 100:.2f}x the target{mark}"
        )


# ---- The run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--wallets", type=int, default=100_000)
    parser.add_argument("--periods", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--pages-only", action="store_true", help="only time the pages, on the data left there"
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--from", dest="low", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--to", dest="high", type=date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        in_child(args.step, args.low, args.high)
        return

    if args.pages_only:
        url = make_url(args.url).set(drivername="postgresql+psycopg")
        env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False),
               "FLASK_DEBUG": "0", "SECRET_KEY": "bench"}  # fmt: skip
        time_pages_step(env, None)
        return
    rows = args.wallets * args.periods * 3
    print(f"{args.wallets:,} wallets x {args.periods} periods x 3 components = {rows:,} rows")
    url = fresh_database(args.url)
    env = {**os.environ, "DATABASE_URL": url, "FLASK_DEBUG": "0", "SECRET_KEY": "bench"}
    folder = tempfile.mkdtemp(prefix="bench_scale_")
    began = time.perf_counter()
    paths = write_files(folder, args.wallets, args.periods)
    print(f"files written in {time.perf_counter() - began:.1f} s")
    flask(env, "db", "upgrade")
    flask(env, "chains", "add", "solana", "--name", "Solana", "--symbol", "SOL",
          "--decimals", "9", "--address-format", "base58-32")  # fmt: skip
    flask(env, "partners", "create", PARTNER)
    flask(env, "wallets", "import", PARTNER, paths["wallets"])
    flask(env, "agreements", "create", PARTNER, "--chain", "solana", "--name", "Scale",
          "--from", "2024-12-01", "--wallet-attribution", "--rate", "MEV=500",
          "--rate", "REWARDS=250", "--rate", f"EXEC_FEES=1000@{VALIDATORS[0]}",
          "--rate", "EXEC_FEES=800")  # fmt: skip
    flask(env, "import", "periods", paths["periods"], "--provider", "bench")
    flask(env, "import", "stake-events", paths["events"], "--provider", "bench")

    figures = []

    def report(what, seconds, peak, floor_name, floor, note="", wal=0):
        ratio = f"{seconds / floor:.2f}x {floor_name}" if floor else ""
        figures.append((what, seconds, peak, ratio, note))
        line = f"{what:<44} {seconds:8.2f} s  {peak:7.0f} MiB  WAL {wal / 2**20:6.0f} MiB"
        print(f"{line}  {ratio}  {note}", flush=True)

    def timed(run, *args):
        """A step's (seconds, peak, output) and the WAL written meanwhile, after a checkpoint."""
        psql(url, "CHECKPOINT")
        before = wal_position(url)
        outcome = run(*args)
        return (*outcome, wal_position(url) - before)

    # Import, and its floor: the same file into an unindexed table.
    seconds, peak, _, wal = timed(
        flask, env, "import", "staker-rewards", paths["rewards"], "--provider", "bench"
    )
    psql(
        url,
        "CREATE TABLE floor_rewards (chain_id text, period text, validator_key text, "
        "staker_address text, revenue_component text, reward_amount_native numeric)",
    )
    psql(url, "CHECKPOINT")
    copy = psql(url, f"\\copy floor_rewards FROM '{paths['rewards']}' WITH (FORMAT csv, HEADER)")
    psql(url, "DROP TABLE floor_rewards")
    psql(url, "VACUUM ANALYZE")
    psql(url, "CHECKPOINT")
    read = psql(url, "\\copy (SELECT * FROM canonical_staker_rewards_detail) TO '/dev/null'")
    print(f"floors: bare \\copy into an unindexed table {copy:.2f} s; "
          f"every reward row read out {read:.2f} s")  # fmt: skip
    report(f"import {rows:,} rewards", seconds, peak, "bare \\copy", copy, wal=wal)

    low = START.date()
    high = low + timedelta(days=args.periods - 1)
    for what, name in (
        ("preview (engine-free, cold)", "preview"),
        ("preview asked again", "preview"),
        ("first commit", "commit"),
        ("commit again, nothing changed", "commit"),
    ):
        seconds, peak, out, wal = timed(step, env, name, low, high)
        note = f"lines {out['lines']:,}, summed {out['summed']}, carried {out['carried']}"
        report(what, out["seconds"], peak, "reading rows out", read, note, wal)
    cold_commit = figures[-2][1]
    write = lines_write_floor(url)
    print(f"floor: the first commit's lines written by a bare INSERT ... SELECT {write:.2f} s "
          f"({write / read:.2f}x reading rows out); the first commit is "
          f"{cold_commit / write:.2f}x this")  # fmt: skip
    psql(url, "CHECKPOINT")
    compute = step(env, "compute", low, high)[2]["seconds"]
    print(f"floor: the first commit's statement without its writes, on one process "
          f"{compute:.2f} s ({compute / read:.2f}x reading rows out); with the bare write "
          f"{compute + write:.2f} s ({(compute + write) / read:.2f}x); the first commit is "
          f"{cold_commit / (compute + write):.2f}x this sum")  # fmt: skip

    seconds, peak, _, wal = timed(
        flask, env, "import", "stake-events", paths["new_events"], "--provider", "bench"
    )
    report("new period: its stake events imported", seconds, peak, "", 0, wal=wal)
    seconds, peak, _, wal = timed(
        flask, env, "import", "staker-rewards", paths["new_rewards"], "--provider", "bench"
    )
    report(f"new period: its {args.wallets * 3:,} rewards imported", seconds, peak, "", 0, wal=wal)
    low, high = low + timedelta(days=1), high + timedelta(days=1)
    seconds, peak, out, wal = timed(step, env, "preview", low, high)
    note = f"summed {out['summed']} period(s)"
    report("new period: preview of the last P periods", out["seconds"], peak,
           "reading rows out", read, note, wal)  # fmt: skip
    step(env, "forget-summaries", low, high)
    seconds, peak, cold, wal = timed(step, env, "preview", low, high)
    assert cold["commission"] == out["commission"], "a kept answer differs from the cold one"
    ratio = out["seconds"] / cold["seconds"]
    note = f"summed {cold['summed']}; the preview above is {ratio:.2f}x this"
    report("  the same preview, nothing kept (cold)", cold["seconds"], peak,
           "reading rows out", read, note, wal)  # fmt: skip
    seconds, peak, out, wal = timed(step, env, "commit", low, high)
    note = f"lines {out['lines']:,}; {out['seconds'] / cold_commit:.2f}x the first commit"
    report("new period: commit of the last P periods", out["seconds"], peak,
           "reading rows out", read, note, wal)  # fmt: skip
    time_pages_step(env, read)
    if not args.keep:
        for path in paths.values():
            os.remove(path)
        os.rmdir(folder)


if __name__ == "__main__":
    main()
