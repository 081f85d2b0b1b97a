r"""Bench: staker rewards through `flask import` on PostgreSQL, end to end.

Makes a fresh database, migrates it, adds a chain and the periods the rewards need,
writes a rewards CSV (default 1,000,000 rows), then times `flask import staker-rewards`
in a child process and prints rows per second and the child's peak RSS. Then, in the same
run, it times a bare `psql \copy` of the same rows into the same (emptied) table, with its
indexes and foreign keys, so the import reads as a ratio to what the server can do.

With `--replace` it then times `flask import staker-rewards --replace` of one period's rows
(half of them, amounts changed), which empties the period's partition, and measures in the
same run, each in a transaction rolled back: the row-by-row DELETE of that period's rows the
replacement did before partitions (triggers included) and the TRUNCATE of its partition
that it does now, so both paths read as ratios to the bare `\copy` of those rows.

    .venv/bin/python bench/bench_imports.py [--rows N] [--database-url URL] [--keep] [--replace]
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLASK = [os.path.join(ROOT, ".venv", "bin", "flask"), "--app", "wsgi"]
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
VALIDATORS = 5
PERIODS = 2
COMPONENTS = ("EXEC_FEES", "MEV", "REWARDS")


def fresh_database(url: str) -> str:
    """Create the bench database, or empty its schema; returns its URL for psycopg 3."""
    target = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
        ).scalar()
        if not found:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    bench = create_engine(target, isolation_level="AUTOCOMMIT")
    with bench.connect() as conn:
        # Emptying the schema, rather than dropping the database, never waits on other sessions.
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    bench.dispose()
    return target.render_as_string(hide_password=False)


def flask(env, *args) -> None:
    """Run a flask command from the repository root; stop the bench if it fails."""
    result = subprocess.run([*FLASK, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def write_files(folder: str, rows: int) -> tuple[str, str]:
    """A periods file and a rewards file of `rows` rows, in the order a provider exports."""
    rng = random.Random(812)
    start = datetime(2025, 10, 1, tzinfo=UTC)
    periods_path = os.path.join(folder, "periods.csv")
    with open(periods_path, "w", newline="") as out:
        out.write("chain_id,label,start_time,end_time\n")
        for index in range(PERIODS):
            begin = start + timedelta(days=2 * index)
            end = begin + timedelta(days=2)
            out.write(f"solana,{812 + index},{begin.isoformat()},{end.isoformat()}\n")
    per_period = -(-rows // PERIODS)
    stakers = -(-per_period // VALIDATORS)
    validators = ["".join(rng.choices(BASE58, k=44)) for _ in range(VALIDATORS)]
    addresses = ["".join(rng.choices(BASE58, k=44)) for _ in range(stakers)]
    rewards_path = os.path.join(folder, "staker_rewards.csv")
    written = 0
    with open(rewards_path, "w", newline="") as out:
        out.write(
            "chain_id,period,validator_key,staker_address,revenue_component,reward_amount_native\n"
        )
        for index in range(PERIODS):
            label = 812 + index
            lines = []
            for validator in validators:
                for number, staker in enumerate(addresses):
                    if written == rows:
                        break
                    amount = f"{rng.randrange(10**12)}.{rng.randrange(10**9):09d}"
                    component = COMPONENTS[number % 3]
                    lines.append(f"solana,{label},{validator},{staker},{component},{amount}\n")
                    written += 1
            out.writelines(lines)
    return periods_path, rewards_path


def bare_copy_seconds(url: str, folder: str) -> float:
    """Dump the imported rows, empty the table, and time `psql \\copy` loading them back."""
    target = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = os.path.join(folder, "rows_for_copy.csv")
    table = "canonical_staker_rewards_detail"

    def psql(command: str) -> None:
        subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", target, "-c", command], check=True
        )

    psql(f"\\copy (SELECT * FROM {table}) TO '{dump}' WITH (FORMAT csv)")
    psql(f"TRUNCATE {table}")
    psql("CHECKPOINT")
    began = time.perf_counter()
    psql(f"\\copy {table} FROM '{dump}' WITH (FORMAT csv)")
    elapsed = time.perf_counter() - began
    os.remove(dump)
    return elapsed


def replace_figures(env, url: str, folder: str, rewards_path: str, copy_rate: float) -> None:
    """Time `import --replace` of the first period, and beside it the old and new ways of
    emptying that period, on the same rows."""
    label = "812"
    replacement = os.path.join(folder, "replacement.csv")
    with open(rewards_path) as source, open(replacement, "w", newline="") as out:
        out.write(next(source))
        rows = 0
        for line in source:
            if line.startswith(f"solana,{label},"):
                out.write(line.rstrip("\n") + "1\n")  # one more decimal: other bytes, amounts
                rows += 1
    command = [*FLASK, "import", "staker-rewards", replacement, "--provider", "bench", "--replace"]
    began = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"replace failed:\n{result.stdout}{result.stderr}")
    os.remove(replacement)
    engine = create_engine(url)
    with engine.connect() as conn:
        period_id = conn.scalar(
            text("SELECT period_id FROM canonical_periods WHERE label = :l"), {"l": label}
        )
        partition = conn.scalar(
            text("SELECT tableoid::regclass::text FROM canonical_staker_rewards_detail "
                 "WHERE period_id = :p LIMIT 1"),
            {"p": period_id},
        )  # fmt: skip
        conn.rollback()
        delete_seconds = _rolled_back(
            conn,
            "DELETE FROM canonical_staker_rewards_detail WHERE period_id = :p",
            {"p": period_id},
        )
        truncate_seconds = _rolled_back(
            conn,
            f"DELETE FROM staker_reward_sums WHERE period_id = :p; TRUNCATE {partition}",
            {"p": period_id},
        )
    engine.dispose()
    floor = rows / copy_rate
    old_path = elapsed - truncate_seconds + delete_seconds
    print(f"replace:       {elapsed:.2f} s for {rows:,} rows of period {label} ({partition})")
    print(f"  its floor:   {floor:.2f} s, a bare \\copy of as many rows at the rate above")
    print(f"  emptying:    TRUNCATE of the partition {truncate_seconds:.2f} s; the row-by-row "
          f"DELETE it replaces {delete_seconds:.2f} s")  # fmt: skip
    print(f"  ratio:       replace takes {elapsed / floor:.2f}x its floor; with the DELETE "
          f"instead (old path, estimated) {old_path / floor:.2f}x")  # fmt: skip


def _rolled_back(conn, statements: str, params: dict) -> float:
    """Seconds the statements take, in a transaction rolled back afterwards."""
    began = time.perf_counter()
    for statement in statements.split("; "):
        conn.execute(text(statement), params if ":p" in statement else {})
    elapsed = time.perf_counter() - began
    conn.rollback()
    return elapsed


def main() -> None:
    """Generate, import, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1/imports_bench_run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--replace", action="store_true", help="also time a replacement of one period"
    )
    args = parser.parse_args()

    url = fresh_database(args.database_url)
    env = {**os.environ, "DATABASE_URL": url, "FLASK_DEBUG": "0"}
    flask(env, "db", "upgrade")
    flask(env, "chains", "add", "solana", "--name", "Solana", "--symbol", "SOL",
          "--decimals", "9", "--address-format", "base58-32")  # fmt: skip

    folder = tempfile.mkdtemp(prefix="bench_imports_")
    began = time.perf_counter()
    periods_path, rewards_path = write_files(folder, args.rows)
    size_mb = os.path.getsize(rewards_path) / 1e6
    print(f"generated {args.rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - began:.1f} s")
    flask(env, "import", "periods", periods_path, "--provider", "bench")

    command = [*FLASK, "import", "staker-rewards", rewards_path, "--provider", "bench"]
    began = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"import failed with exit code {child.returncode}")
    print(output.strip())
    print(f"rows:          {args.rows:,}")
    print(f"elapsed:       {elapsed:.2f} s (CLI start to exit: parse, check, COPY, commit)")
    print(f"rows/s:        {args.rows / elapsed:,.0f}")
    print(f"peak RSS:      {usage.ru_maxrss / 1024:.0f} MiB (child process)")
    copy_seconds = bare_copy_seconds(url, folder)
    print(f"psql \\copy:    {copy_seconds:.2f} s for the same rows into the same table "
          f"({args.rows / copy_seconds:,.0f} rows/s)")  # fmt: skip
    print(f"ratio:         import takes {elapsed / copy_seconds:.2f}x a bare \\copy")
    if args.replace:
        replace_figures(env, url, folder, rewards_path, args.rows / copy_seconds)
    if not args.keep:
        for path in (periods_path, rewards_path):
            os.remove(path)
        os.rmdir(folder)


if __name__ == "__main__":
    main()
