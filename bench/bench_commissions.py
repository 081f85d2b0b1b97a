"""Commission preview and commit at a large partner's scale on PostgreSQL; prints its figures.

One partner, 10,000 wallets, 30 daily periods, 3 validators: about 1,000,000 staker reward
rows and 100,000 stake events, loaded with COPY. Times the preview as the engine computes it
(lines in memory, what the command line and the files use) and as the preview page asks for
it (summed by PostgreSQL), both against the 2 s target; the commit (< 5 s); a recommit of
unchanged inputs (< 1 s: the result is carried over); one after a one-period correction (only
that period is computed); reports peak memory (< 600 MiB), and times the seed notes'
per-wallet, per-period query loop on a sample of wallets for the ratio.

    .venv/bin/python bench/bench_commissions.py [--url postgresql://postgres@127.0.0.1/commissions_bench]
        [--wallets 10000] [--periods 30] [--loop-sample 300] [--reuse]

The database named in --url is dropped and created again unless --reuse is given.
"""

import argparse
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEFAULT_URL = "postgresql://postgres@127.0.0.1/commissions_bench"
VALIDATORS = (
    "Vote1111111111111111111111111111111111111",
    "Vote2222222222222222222222222222222222222",
    "Vote3333333333333333333333333333333333333",
)
COMPONENTS = ("EXEC_FEES", "MEV", "REWARDS")
START = datetime(2025, 1, 1, tzinfo=UTC)
PARTNER = "Bench Partner"
TARGETS = {"commit": 5, "recommit, inputs unchanged": 1}
ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def peak_rss_mib() -> float:
    """The process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_app(url):
    """The app on the bench database; tables the schema gained since the data were generated
    (a run with --reuse) are created."""
    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        db.create_all()
    return app


def forget_kept_summaries() -> None:
    """Drop the summaries an earlier run kept (`set_based`), so that a first ask is timed as
    one: they outlive the process that summed them."""
    from webapp.extensions import db
    from webapp.models import KeptSummary

    db.session.execute(KeptSummary.__table__.delete())
    db.session.commit()


def recreate_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from webapp.config import normalise_database_url

    parsed = make_url(normalise_database_url(url))
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _ids():
    prefix = str(uuid.uuid4())[:24]
    counter = 0
    while True:
        yield f"{prefix}{counter:012x}"
        counter += 1


def _amount(rnd: random.Random, scale: int) -> str:
    return format(Decimal(rnd.randrange(1, 10**scale)).scaleb(-9), "f")


def _copy(cursor, table: str, columns: str, rows) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        chunk = []
        for row in rows:
            chunk.append(row)
            count += 1
            if len(chunk) == 50000:
                copy.write("".join(chunk))
                chunk.clear()
        copy.write("".join(chunk))
    return count


def generate(url: str, wallet_count: int, period_count: int) -> None:
    """Schema, then the partner's world with COPY: wallets, periods, rewards, events."""
    from webapp.agreements.service import create_agreement, parse_rate_spec
    from webapp.chains.service import add_chain
    from webapp.extensions import db
    from webapp.models import Provider, StagingPayload
    from webapp.partners.service import create_partner

    rnd = random.Random(5)
    app = make_app(url)
    with app.app_context():
        db.create_all()
        add_chain("solana", "Solana", "SOL", 9, "base58-32")
        partner = create_partner(PARTNER)
        provider = Provider(name="jito")
        db.session.add(provider)
        db.session.flush()
        payloads = {}
        for kind in ("periods", "staker-rewards", "stake-events"):
            payloads[kind] = StagingPayload(
                provider_id=provider.provider_id,
                chain_id="solana",
                kind=kind,
                file_name=f"{kind}.csv",
                sha256=uuid.uuid4().hex * 2,
            )
            db.session.add(payloads[kind])
        db.session.commit()
        create_agreement(
            partner,
            "solana",
            "Bench 2025",
            date(2025, 1, 1),
            None,
            True,
            [
                parse_rate_spec(s)
                for s in ("MEV=1000", "REWARDS=500", f"EXEC_FEES=800@{VALIDATORS[0]}")
            ],
        )
        lineage = f"{provider.provider_id}\t"
        now = datetime.now(UTC).isoformat()
        partner_id = partner.partner_id

        raw = db.session.connection().connection.driver_connection
        cursor = raw.cursor()
        ids = _ids()
        periods = []
        for index in range(period_count):
            start = START + timedelta(days=index)
            periods.append((next(ids), start, start + timedelta(days=1)))
        period_lineage = f"{lineage}{payloads['periods'].payload_id}\t{now}\n"
        _copy(
            cursor,
            "canonical_periods",
            "period_id, chain_id, label, start_time, end_time, "
            "source_provider_id, source_payload_id, normalized_at",
            (
                f"{pid}\tsolana\t{800 + i}\t{s.isoformat()}\t{e.isoformat()}\t{period_lineage}"
                for i, (pid, s, e) in enumerate(periods)
            ),
        )
        wallets = []
        for _ in range(wallet_count):
            address = "".join(rnd.choice(ALPHABET) for _ in range(44))
            inactive = rnd.random() < 0.02
            late = rnd.random() < 0.10
            introduced = (
                date(2025, 1, 1) + timedelta(days=rnd.randrange(period_count))
                if late
                else date(2024, 6, 1)
            )
            # Most wallets stake with one validator, about one in nine with two.
            validators = rnd.sample(VALIDATORS, 2 if rnd.random() < 0.11 else 1)
            wallets.append((address, introduced, not inactive, validators))
        _copy(
            cursor,
            "partner_wallets",
            "wallet_id, partner_id, chain_id, wallet_address, introduced_date, is_active, "
            "created_at, updated_at",
            (
                f"{next(ids)}\t{partner_id}\tsolana\t{a}\t{d.isoformat()}\t"
                f"{'t' if act else 'f'}\t{now}\t{now}\n"
                for a, d, act, _ in wallets
            ),
        )
        reward_lineage = f"{lineage}{payloads['staker-rewards'].payload_id}\t{now}\n"
        rewards = _copy(
            cursor,
            "canonical_staker_rewards_detail",
            "staker_reward_id, chain_id, period_id, validator_key, staker_address, "
            "revenue_component, reward_amount_native, source_provider_id, source_payload_id, "
            "normalized_at",
            (
                f"{next(ids)}\tsolana\t{pid}\t{v}\t{a}\t{c}\t{_amount(rnd, 12)}\t{reward_lineage}"
                for pid, _, _ in periods
                for a, _, _, validators in wallets
                for v in validators
                for c in COMPONENTS
            ),
        )

        # Computed before the COPY: an expired attribute would query on the busy connection.
        event_lineage = f"{lineage}{payloads['stake-events'].payload_id}\t{now}\n"

        def events():
            for address, _, _, validators in wallets:
                for validator in validators:
                    # A first stake before the periods, then about eight changes during them.
                    moments = [START - timedelta(days=rnd.randrange(1, 200))]
                    moments += sorted(
                        START + timedelta(seconds=rnd.randrange(period_count * 86400))
                        for _ in range(8)
                    )
                    for n, moment in enumerate(moments):
                        kind = (
                            "STAKE"
                            if n == 0
                            else rnd.choice(("STAKE", "RESTAKE", "UNSTAKE", "UNSTAKE"))
                        )
                        day = max(0, (moment - START).days)
                        yield (
                            f"{next(ids)}\tsolana\t{periods[day][0]}\t{validator}\t{address}\t{kind}\t"
                            f"{_amount(rnd, 13)}\t{moment.isoformat()}\t{event_lineage}"
                        )

        event_count = _copy(
            cursor,
            "canonical_stake_events",
            "stake_event_id, chain_id, period_id, validator_key, staker_address, event_type, "
            "stake_amount_native, event_timestamp, source_provider_id, source_payload_id, "
            "normalized_at",
            events(),
        )
        cursor.close()
        db.session.commit()
        # Fresh statistics, as autovacuum would give a real database after a large import.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
        print(
            f"data: {wallet_count} wallets, {period_count} periods, "
            f"{rewards} staker reward rows, {event_count} stake events"
        )


def measure(url: str, loop_sample: int) -> None:
    """Time preview, commit, a second commit, and the per-wallet per-period query loop."""
    from sqlalchemy import func, select, text, update

    from webapp.commissions import committing, results
    from webapp.extensions import db
    from webapp.models import (
        CanonicalPeriod,
        CanonicalStakeEvent,
        CanonicalStakerRewardsDetail,
        CommissionExclusion,
        PartnerCommissionLine,
        PartnerWallet,
    )
    from webapp.money import format_amount
    from webapp.partners.service import find_partner_by_name

    app = make_app(url)
    with app.app_context():
        partner = find_partner_by_name(PARTNER)
        date_from, date_to = date(2025, 1, 1), date(2025, 12, 31)
        # A clean slate for --reuse: no runs, so the first commit writes everything.
        for table in (
            "commission_run_events",
            "commission_locks",
            "commission_run_periods",
            "commission_exclusions",
            "partner_commission_lines",
            "commission_runs",
        ):
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE partner_commission_lines, commission_exclusions")
        db.session.execute(select(1))  # connect before the clock starts

        began = time.perf_counter()
        computation = results.preview(partner, date_from, date_to, lines=True)
        preview_s = time.perf_counter() - began
        result = computation.outcomes[0].result
        db.session.rollback()
        print(
            f"preview: {preview_s:.2f} s (target < 2 s): {len(result.periods)} periods, "
            f"{len(result.lines)} lines, {len(result.exclusions)} exclusions, "
            f"commission {format_amount(result.total_commission_native)}; "
            f"peak memory {peak_rss_mib():.0f} MiB"
        )
        del computation, result

        forget_kept_summaries()
        for attempt in ("first", "asked again, inputs unchanged"):
            began = time.perf_counter()
            summed = results.preview(partner, date_from, date_to).outcomes[0].result
            summary_s = time.perf_counter() - began
            db.session.rollback()
            print(
                f"preview page (summed by PostgreSQL), {attempt}: {summary_s:.2f} s "
                f"(target < 2 s): {summed.line_count} lines, "
                f"commission {format_amount(summed.total_commission_native)}"
            )

        timings = {}
        for attempt in ("commit", "recommit, inputs unchanged"):
            began = time.perf_counter()
            outcome = committing.commit(partner, date_from, date_to).outcomes[0]
            timings[attempt] = time.perf_counter() - began
            stored = db.session.scalar(select(func.count()).select_from(PartnerCommissionLine))
            exclusions = db.session.scalar(select(func.count()).select_from(CommissionExclusion))
            how = "result carried over" if outcome.unchanged else "computed"
            print(
                f"{attempt}: {timings[attempt]:.2f} s (target < {TARGETS[attempt]} s; {how}): "
                f"{stored} lines, {exclusions} exclusion rows stored; "
                f"peak memory {peak_rss_mib():.0f} MiB"
            )
        # One period's rewards corrected: only that period's lines are rewritten.
        R = CanonicalStakerRewardsDetail
        last = db.session.scalars(
            select(CanonicalPeriod.period_id).order_by(CanonicalPeriod.start_time.desc()).limit(1)
        ).one()
        db.session.execute(
            update(R)
            .where(R.period_id == last)
            .values(reward_amount_native=R.reward_amount_native + 1)
        )
        db.session.commit()
        began = time.perf_counter()
        committing.commit(partner, date_from, date_to)
        print(
            f"recommit, one period changed: {time.perf_counter() - began:.2f} s "
            "(that period computed, the other 29 carried over)"
        )
        print(f"peak memory overall: {peak_rss_mib():.0f} MiB (target < 600 MiB)")

        # The seed notes' approach: for each wallet and period, query its rewards, then for
        # each validator query its stake events; timed on a sample and scaled up.
        R, E, W, P = (
            CanonicalStakerRewardsDetail,
            CanonicalStakeEvent,
            PartnerWallet,
            CanonicalPeriod,
        )
        wallets = db.session.scalars(
            select(W.wallet_address)
            .where(W.partner_id == partner.partner_id)
            .order_by(W.wallet_address)
        ).all()
        periods = db.session.execute(
            select(P.period_id, P.start_time, P.end_time).order_by(P.start_time)
        ).all()
        sample = wallets[:loop_sample]
        began = time.perf_counter()
        queries = 0
        for address in sample:
            for period_id, _, end in periods:
                rows = db.session.execute(
                    select(R.validator_key, R.revenue_component, R.reward_amount_native).where(
                        R.chain_id == "solana",
                        R.period_id == period_id,
                        R.staker_address == address,
                    )
                ).all()
                queries += 1
                for validator in {row.validator_key for row in rows}:
                    db.session.execute(
                        select(E.event_type, E.stake_amount_native, E.event_timestamp)
                        .where(
                            E.chain_id == "solana",
                            E.staker_address == address,
                            E.validator_key == validator,
                            E.event_timestamp < end,
                        )
                        .order_by(E.event_timestamp)
                    ).all()
                    queries += 1
        loop_s = time.perf_counter() - began
        scaled = loop_s * len(wallets) / max(1, len(sample))
        print(
            f"per-wallet, per-period query loop: {loop_s:.2f} s for {len(sample)} wallets "
            f"({queries} queries), extrapolated to {len(wallets)} wallets: {scaled:.0f} s"
        )
        print(f"ratio: the loop is {scaled / preview_s:.0f}x slower than the preview")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--wallets", type=int, default=10000)
    parser.add_argument("--periods", type=int, default=30)
    parser.add_argument("--loop-sample", type=int, default=300)
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_only:
        measure(args.url, args.loop_sample)
        return
    if not args.reuse:
        began = time.perf_counter()
        recreate_database(args.url)
        generate(args.url, args.wallets, args.periods)
        print(f"generated in {time.perf_counter() - began:.1f} s")
    # A fresh process, so peak memory is the computation's own, not the generator's.
    command = [sys.executable, os.path.abspath(__file__), "--measure-only", "--url", args.url]
    command += ["--loop-sample", str(args.loop_sample)]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
