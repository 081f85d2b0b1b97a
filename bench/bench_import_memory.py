r"""Bench: the peak resident memory of `flask import staker-rewards` at two file sizes.

For each size (default 1,000,000 and 3,000,000 rows: wallets x 30 daily periods x 3
components, the files of `bench_scale`), on a fresh database: the import in a child process
(its seconds and peak RSS, from the kernel), the same file checked with `--dry-run`, and the
floors of the same run: a bare `psql \copy` of the file into an unindexed table (seconds)
and the peak RSS of a child that only builds the app (what any command starts from). The
last lines give the growth of each peak from the first size to the second, and the
import's ratio to the bare `\copy`. Read ratios and peaks: the machine may be shared.

    .venv/bin/python bench/bench_import_memory.py \
        [--url postgresql://postgres@127.0.0.1/importmem_bench] [--rows 1000000 3000000]
        [--sqlite]    # the embedded default instead: a SQLite file, no \copy floor

The database named in --url is emptied (its public schema dropped) first.
"""

import argparse
import os
import subprocess
import sys
import tempfile

from bench_imports import fresh_database
from bench_scale import psql, write_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
FLASK = [os.path.join(BIN, "flask"), "--app", "wsgi"]
PERIODS = 30


def measure(args: list[str], env) -> tuple[float, float]:
    """(seconds, peak MiB) of one child, measured by a wrapper process of its own so that
    each figure is that child's alone."""
    wrapper = (
        "import os, subprocess, sys, time\n"
        "began = time.perf_counter()\n"
        "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "err = p.stderr.read()\n"
        "_, status, usage = os.wait4(p.pid, 0)\n"
        "code = os.waitstatus_to_exitcode(status)\n"
        "print(time.perf_counter() - began, usage.ru_maxrss / 1024, code)\n"
        "sys.stderr.write(err.decode()[-2000:])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    seconds, peak, code = result.stdout.split()
    if int(code) != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr}")
    return float(seconds), float(peak)


def run_size(rows: int, url: str | None, sqlite_path: str | None, folder: str) -> dict:
    """The figures of one size on a fresh database."""
    wallets = max(1, rows // (3 * PERIODS))
    if sqlite_path:
        if os.path.exists(sqlite_path):
            os.remove(sqlite_path)
        database = "sqlite:///" + sqlite_path
    else:
        database = fresh_database(url)
    env = {**os.environ, "DATABASE_URL": database, "FLASK_DEBUG": "0", "SECRET_KEY": "bench"}
    paths = write_files(folder, wallets, PERIODS)
    actual = wallets * PERIODS * 3
    for args in (
        ("db", "upgrade"),
        ("chains", "add", "solana", "--name", "Solana", "--symbol", "SOL", "--decimals", "9",
         "--address-format", "base58-32"),
        ("import", "periods", paths["periods"], "--provider", "bench"),
    ):  # fmt: skip
        subprocess.run([*FLASK, *args], cwd=ROOT, env=env, check=True, capture_output=True)
    rewards = ["import", "staker-rewards", paths["rewards"], "--provider", "bench"]
    figures = {"rows": actual}
    figures["app"] = measure([sys.executable, "-c", "import wsgi"], env)
    figures["dry-run"] = measure([*FLASK, *rewards, "--dry-run"], env)
    figures["import"] = measure([*FLASK, *rewards], env)
    if not sqlite_path:
        psql(
            url,
            "CREATE TABLE floor_rewards (chain_id text, period text, validator_key text, "
            "staker_address text, revenue_component text, reward_amount_native numeric)",
        )
        source = paths["rewards"]
        copy = psql(url, f"\\copy floor_rewards FROM '{source}' WITH (FORMAT csv, HEADER)")
        psql(url, "DROP TABLE floor_rewards")
        figures["copy"] = copy
    for path in paths.values():
        os.remove(path)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1/importmem_bench")
    parser.add_argument("--rows", type=int, nargs=2, default=[1_000_000, 3_000_000])
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench_import_memory_")
    sqlite_path = os.path.join(folder, "bench.sqlite3") if args.sqlite else None
    results = []
    for rows in args.rows:
        figures = run_size(rows, None if args.sqlite else args.url, sqlite_path, folder)
        results.append(figures)
        line = f"{figures['rows']:>10,} rows:"
        for name in ("app", "dry-run", "import"):
            seconds, peak = figures[name]
            line += f"  {name} {seconds:7.2f} s {peak:6.0f} MiB;"
        if "copy" in figures:
            ratio = figures["import"][0] / figures["copy"]
            line += f"  bare \\copy {figures['copy']:.2f} s (import {ratio:.1f}x)"
        print(line, flush=True)
    if sqlite_path and os.path.exists(sqlite_path):
        os.remove(sqlite_path)
    os.rmdir(folder)
    small, large = results
    for name in ("dry-run", "import"):
        grown = large[name][1] - small[name][1]
        print(
            f"{name}: peak {small[name][1]:.0f} -> {large[name][1]:.0f} MiB "
            f"({grown:+.0f} MiB for {large['rows'] - small['rows']:+,} rows; "
            f"{large[name][1] / small[name][1]:.2f}x); app alone {large['app'][1]:.0f} MiB"
        )


if __name__ == "__main__":
    main()
