"""Many signed-in users against gunicorn (threaded workers) on PostgreSQL; prints its figures.

A partner with 10,000 wallets (the data of bench_commissions.py, fewer periods by default) and
20 users signed in on 127.0.0.1 for 60 s: 4 of them keep opening that partner's commission
preview, the others walk the everyday pages (home, partners, a partner with its wallet list,
agreements, data imports, commissions). Reports the errors (target 0) and the p50/p95 of the
other pages (target p95 < 200 ms) while the previews run.

    .venv/bin/python bench/bench_load.py [--url postgresql://postgres@127.0.0.1/load_bench]
        [--users 20] [--preview-users 4] [--seconds 60] [--workers 2] [--threads 8]
        [--wallets 10000] [--periods 10] [--think 0.5] [--reuse] [--shape own|issue]

`--shape issue` is the shape an operator measured from outside: 16 light users, each
request one of the partner list, the big partner's page, a wallet search of it and a small
partner's 12-month preview, 0.25-0.75 s apart; 4 heavy users looping with no pause on the
big partner's preview over its periods (`--wallets 2000 --periods 10` is that operator's
partner). Targets: 0 errors, light p95 <= 150 ms, heavy previews answered at least once a
second in total; the figures are printed as ratios to them.

The database named in --url is dropped and created again unless --reuse is given. The
server and every client stay on the loopback address; the server is stopped at the end.
"""

import argparse
import http.client
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import bench_commissions  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1/load_bench"
HOST = "127.0.0.1"
PASSWORD = "load-bench-password"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Tally:
    """Latencies (seconds) and failures of one kind of request, shared by the client threads."""

    times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.times.append(seconds)
            if error:
                self.errors.append(error)


class Browser:
    """One user: a connection of its own and the session cookie."""

    def __init__(self, port: int):
        self.port = port
        self.cookie = ""
        self.connection = http.client.HTTPConnection(HOST, port, timeout=300)

    def request(self, method: str, path: str, body: str | None = None, headers=None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except (http.client.HTTPException, OSError):
            # The server closed a kept-alive connection: one fresh try.
            self.connection.close()
            self.connection = http.client.HTTPConnection(HOST, self.port, timeout=300)
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        data = response.read()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, data

    def sign_in(self, email: str) -> None:
        status, page = self.request("GET", "/login")
        token = CSRF.search(page.decode()).group(1)
        body = urlencode({"email": email, "password": PASSWORD, "csrf_token": token})
        status, _ = self.request("POST", "/login", body)
        if status != 302:
            raise RuntimeError(f"sign-in of {email} answered {status}")


def prepare(url: str, wallets: int, periods: int, users: int) -> str:
    """Data and users; returns the partner's id."""
    from webapp.auth.service import create_user
    from webapp.extensions import db
    from webapp.partners.service import find_partner_by_name

    bench_commissions.recreate_database(url)
    bench_commissions.generate(url, wallets, periods)
    app = bench_commissions.make_app(url)
    with app.app_context():
        for number in range(users):
            create_user(f"user{number}@load.example", "viewer", PASSWORD)
        partner_id = str(find_partner_by_name(bench_commissions.PARTNER).partner_id)
        db.engine.dispose()
    return partner_id


SMALL_PARTNER = "Small Partner"
SMALL_WALLETS = 20


def add_small_partner(url: str) -> None:
    """A second partner with a few of the big partner's wallets (and their rewards), under
    the same rates: the light users' 12-month preview."""
    from sqlalchemy import select, update

    from webapp.agreements.service import create_agreement, parse_rate_spec
    from webapp.extensions import db
    from webapp.models import PartnerWallet
    from webapp.partners.service import create_partner

    app = bench_commissions.make_app(url)
    with app.app_context():
        small = create_partner(SMALL_PARTNER)
        create_agreement(
            small,
            "solana",
            "Small 2025",
            bench_commissions.START.date(),
            None,
            True,
            [parse_rate_spec(s) for s in ("MEV=1000", "REWARDS=500")],
        )
        taken = select(PartnerWallet.wallet_id).order_by(PartnerWallet.wallet_address)
        db.session.execute(
            update(PartnerWallet)
            .where(PartnerWallet.wallet_id.in_(taken.limit(SMALL_WALLETS).scalar_subquery()))
            .values(partner_id=small.partner_id)
        )
        db.session.commit()
        db.engine.dispose()


def ids_of(url: str) -> dict[str, str]:
    """The big and the small partner's ids, and an address prefix of the big one's wallets
    that a search finds."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import PartnerWallet
    from webapp.partners.service import find_partner_by_name

    app = bench_commissions.make_app(url)
    with app.app_context():
        big = find_partner_by_name(bench_commissions.PARTNER).partner_id
        small = find_partner_by_name(SMALL_PARTNER)
        address = db.session.scalar(
            select(PartnerWallet.wallet_address).where(PartnerWallet.partner_id == big).limit(1)
        )
        ids = {
            "big": str(big),
            "small": str(small.partner_id) if small else "",
            "search": address[:3],
        }
        db.engine.dispose()
    return ids


def partner_id_of(url: str) -> str:
    from webapp.extensions import db
    from webapp.partners.service import find_partner_by_name

    app = bench_commissions.make_app(url)
    with app.app_context():
        partner_id = str(find_partner_by_name(bench_commissions.PARTNER).partner_id)
        db.engine.dispose()
    return partner_id


def start_server(url: str, port: int, workers: int, threads: int, log) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "load-bench-secret",
        "LOGIN_MAX_FAILURES_PER_ADDRESS": "1000",
    }
    command = [
        os.path.join(ROOT, ".venv", "bin", "gunicorn"),
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "300",
        "wsgi:app",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/login")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError("gunicorn did not answer within 60 s")


def percentile(times: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted `times`."""
    return times[max(0, math.ceil(len(times) * share) - 1)]


def summary(name: str, tally: Tally) -> str:
    times = sorted(tally.times)
    if not times:
        return f"{name}: no requests"
    return (
        f"{name}: {len(times)} requests, {len(tally.errors)} errors, "
        f"p50 {statistics.median(times) * 1000:.0f} ms, "
        f"p95 {percentile(times, 0.95) * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
    )


def drive(args, users: list, seconds: int) -> None:
    """Sign each user in, then run them all at once for `seconds`: each user is
    (name, next path, think time range, tally, per-page tallies or None)."""
    browsers = []
    for number in range(len(users)):
        browser = Browser(args.port)
        browser.sign_in(f"user{number}@load.example")
        browsers.append(browser)
    stop = time.monotonic() + seconds
    started = threading.Barrier(len(users))

    def user(number: int, browser: Browser, choose, think, tally, per_page) -> None:
        rnd = random.Random(number)
        started.wait()
        while time.monotonic() < stop:
            path, headers = choose(rnd)
            began = time.perf_counter()
            try:
                status, _ = browser.request("GET", path, headers=headers)
                error = None if status == 200 else f"{status} {path}"
            except Exception as exc:  # noqa: BLE001 - a failed request is a counted error
                error = f"{type(exc).__name__} {path}"
            seconds_taken = time.perf_counter() - began
            tally.add(seconds_taken, error)
            if per_page is not None:
                per_page[path].add(seconds_taken, error)
            if think[1]:
                time.sleep(rnd.uniform(*think))

    threads = [
        threading.Thread(target=user, args=(number, browser, *users[number]))
        for number, browser in enumerate(browsers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_issue_shape(args, ids: dict[str, str]) -> None:
    """16 light users and 4 heavy ones (`--shape issue`); figures and their ratios to the
    targets."""
    big, small = ids["big"], ids["small"]
    heavy_path = "/commissions/?" + urlencode(
        {
            "partner": big,
            "date_from": bench_commissions.START.date().isoformat(),
            "date_to": (
                bench_commissions.START.date() + timedelta(days=args.periods - 1)
            ).isoformat(),
        }
    )
    light_pages = {
        "/partners/": {},
        f"/partners/{big}": {},
        f"/partners/{big}/wallets?" + urlencode({"q": ids["search"]}): {"HX-Request": "true"},
        "/commissions/?"
        + urlencode({"partner": small, "date_from": "2025-01-01", "date_to": "2025-12-31"}): {},
    }
    light, heavy = Tally(), Tally()
    per_page = {path: Tally() for path in light_pages}
    paths = list(light_pages)
    heavy_users = args.preview_users
    users = [(lambda rnd: (heavy_path, {}), (0, 0), heavy, None) for _ in range(heavy_users)] + [
        (lambda rnd: (path := rnd.choice(paths), light_pages[path]), (0.25, 0.75), light, per_page)
        for _ in range(args.users - heavy_users)
    ]
    drive(args, users, args.seconds)
    print(
        f"load, the issue's shape: {args.users - heavy_users} light users (0.25-0.75 s apart), "
        f"{heavy_users} heavy ones looping on the preview of {args.wallets:,} wallets over "
        f"{args.periods} periods, {args.seconds} s, gunicorn {args.workers} workers x "
        f"{args.threads} threads (gthread)"
    )
    print(summary("light pages", light))
    for path, tally in per_page.items():
        print("  " + summary(path, tally))
    print(summary("heavy preview", heavy))
    times = sorted(light.times)
    light_p95 = percentile(times, 0.95) if times else float("inf")
    rate = len(heavy.times) / args.seconds
    errors = light.errors + heavy.errors
    print(
        f"ratios to the targets (<= 1 meets it): light p95 / 150 ms = {light_p95 / 0.150:.2f}; "
        f"1 per s / heavy previews answered per s ({rate:.2f}) = "
        f"{(1 / rate) if rate else float('inf'):.2f}; errors {len(errors)} (target 0)"
        + (f": {sorted(set(errors))[:10]}" if errors else "")
    )


def run(args, partner_id: str) -> None:
    pages = [
        "/",
        "/partners/",
        f"/partners/{partner_id}",
        f"/partners/{partner_id}/wallets?page=1",
        "/agreements/",
        "/imports/",
        "/commissions/",
    ]
    preview = "/commissions/?" + urlencode(
        {"partner": partner_id, "date_from": "2025-01-01", "date_to": "2025-12-31"}
    )
    tallies = {"preview": Tally(), "pages": Tally()}
    per_page = {page: Tally() for page in pages}
    browsers = []
    for number in range(args.users):
        browser = Browser(args.port)
        browser.sign_in(f"user{number}@load.example")
        browsers.append(browser)
    stop = time.monotonic() + args.seconds
    started = threading.Barrier(args.users)

    def user(number: int, browser: Browser) -> None:
        rnd = random.Random(number)
        started.wait()
        previewing = number < args.preview_users
        while time.monotonic() < stop:
            path = preview if previewing else rnd.choice(pages)
            headers = {"HX-Request": "true"} if "/wallets" in path else {}
            began = time.perf_counter()
            try:
                status, _ = browser.request("GET", path, headers=headers)
                error = None if status == 200 else f"{status} {path}"
            except Exception as exc:  # noqa: BLE001 - a failed request is a counted error
                error = f"{type(exc).__name__} {path}"
            seconds = time.perf_counter() - began
            tallies["preview" if previewing else "pages"].add(seconds, error)
            if not previewing:
                per_page[path].add(seconds, error)
            time.sleep(rnd.uniform(0.5, 1.5) * args.think)

    threads = [
        threading.Thread(target=user, args=(number, browser))
        for number, browser in enumerate(browsers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def line(name: str, tally: Tally) -> str:
        times = sorted(tally.times)
        if not times:
            return f"{name}: no requests"
        p95 = times[max(0, math.ceil(len(times) * 0.95) - 1)]  # nearest rank
        return (
            f"{name}: {len(times)} requests, {len(tally.errors)} errors, "
            f"p50 {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {times[-1] * 1000:.0f} ms"
        )

    print(
        f"load: {args.users} users ({args.preview_users} opening the preview) for "
        f"{args.seconds} s, think time ~{args.think} s, gunicorn {args.workers} workers x "
        f"{args.threads} threads (gthread)"
    )
    print(line(f"commission preview ({args.wallets:,} wallets)", tallies["preview"]))
    print(line("other pages (target p95 < 200 ms)", tallies["pages"]))
    for page, tally in per_page.items():
        print("  " + line(page, tally))
    errors = tallies["preview"].errors + tallies["pages"].errors
    print(f"errors: {len(errors)} (target 0)" + (f": {sorted(set(errors))[:10]}" if errors else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--preview-users", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--wallets", type=int, default=10000)
    parser.add_argument("--periods", type=int, default=10)
    parser.add_argument("--think", type=float, default=0.5, help="mean pause between requests")
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run")
    parser.add_argument(
        "--shape",
        choices=("own", "issue"),
        default="own",
        help="own: everyday pages beside previews; issue: light pages beside heavy previews",
    )
    args = parser.parse_args()
    if args.reuse:
        partner_id = partner_id_of(args.url)
    else:
        began = time.perf_counter()
        partner_id = prepare(args.url, args.wallets, args.periods, args.users)
        if args.shape == "issue":
            add_small_partner(args.url)
        print(f"prepared in {time.perf_counter() - began:.1f} s")
    ids = ids_of(args.url) if args.shape == "issue" else None
    with tempfile.NamedTemporaryFile("w+", prefix="bench-load-", suffix=".log") as log:
        server = start_server(args.url, args.port, args.workers, args.threads, log)
        try:
            if ids is not None:
                run_issue_shape(args, ids)
            else:
                run(args, partner_id)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.seek(0)
        failures = [text for text in log if "Traceback" in text or "[CRITICAL]" in text]
        print(f"server log: {len(failures)} tracebacks or worker timeouts")


if __name__ == "__main__":
    main()
