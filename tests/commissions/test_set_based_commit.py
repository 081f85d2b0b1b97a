"""On PostgreSQL a wallet-attribution commit writes its lines and exclusions inside the
database (`commissions.set_based_lines`); the engine (`webapp.attribution`) stays the
reference. On random worlds full of the cases the rules turn on, every stored line equals the
engine's line by line (agreement, period, validator, component, wallet, base, rate,
commission), every stored exclusion equals the engine's grouped exclusion row by row, and the
run's totals and each pair's `sums` are the engine's. The worlds hold: three chains with
their own address forms (base58, EIP-55, bech32), several agreements of one partner cut by
their effective dates, stakes that blip (a STAKE and an UNSTAKE of the same amount at one
instant), events exactly on period boundaries and a second either side, UNSTAKEs beyond the
balance, fractional stakes, inactive wallets and wallets introduced after a period's start,
0 bps validator rules beside general rules of the same component, validator rules with no
general rule, ties half way between two 18-place values, and rewards of strangers' wallets
and of addresses no partner has."""

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal

import base58
import bech32
import pytest
from sqlalchemy import select, text, update

from tests import factories
from webapp.addresses import eip55_checksum
from webapp.commissions import committing, inputs, pair_sums, set_based_lines
from webapp.commissions.run_rows import grouped_exclusions
from webapp.commissions.terms import period_uuid
from webapp.extensions import db
from webapp.models import (
    CanonicalStakerRewardsDetail,
    CommissionExclusion,
    CommissionRun,
    CommissionRunPeriod,
    LineKind,
    PartnerCommissionLine,
    PartnerWallet,
)
from webapp.vocab import REASONS, joined_components

pytestmark = pytest.mark.postgres_only

VALIDATORS = ("VoteA", "VoteB", "VoteC")
COMPONENTS = ("EXEC_FEES", "MEV", "REWARDS")
FIRST = factories.utc(2025, 3, 1)
#: Periods back to back, of uneven lengths: their start dates are 3/1, 3/1, 3/2, 3/2, 3/4, 3/5.
HOURS = (12, 24, 6, 30, 24, 18)
TINY = Decimal(1).scaleb(-18)
DATE_FROM, DATE_TO = date(2025, 3, 1), date(2025, 3, 31)


def _amount(rnd: random.Random) -> Decimal:
    choice = rnd.random()
    if choice < 0.25:  # a few units of the last place: ties half way at 50% or 25%
        return TINY * rnd.randrange(1, 10)
    if choice < 0.5:
        return Decimal(rnd.randrange(1, 10**6)).scaleb(-rnd.randrange(0, 19))
    return Decimal(rnd.randrange(1, 10**20)).scaleb(-18)


def _stake(rnd: random.Random) -> Decimal:
    """A stake amount: whole, fractional, or a dust fraction."""
    choice = rnd.random()
    if choice < 0.4:
        return Decimal(rnd.randrange(0, 6))
    if choice < 0.8:
        return Decimal(rnd.randrange(1, 10**9)).scaleb(-9)
    return TINY * rnd.randrange(1, 4)


def _address(rnd: random.Random, chain_id: str) -> str:
    if chain_id == "ethereum":
        return "0x" + eip55_checksum(rnd.randbytes(20).hex())
    if chain_id == "cosmos":
        return bech32.bech32_encode("cosmos", bech32.convertbits(rnd.randbytes(20), 8, 5))
    return base58.b58encode(rnd.randbytes(32)).decode()


def _chain_world(rnd, chain_id, partner, stranger, offset_hours: int):
    """Periods, wallets, stake events and rewards of one chain; returns its periods."""
    source = factories.provider(f"provider {chain_id} {rnd.random()}")
    payloads = {k: factories.payload(source, k, chain_id) for k in ("periods", "rewards", "ev")}
    periods, start = [], FIRST + timedelta(hours=offset_hours)
    for n, hours in enumerate(HOURS):
        end = start + timedelta(hours=hours)
        periods.append(
            factories.period(payloads["periods"], f"{chain_id}-{n}", start, end, chain_id)
        )
        start = end
    boundaries = [p.start_time for p in periods] + [periods[-1].end_time]
    late_dates = [date(2025, 3, 2), date(2025, 3, 4), date(2025, 3, 5)]

    mine = [_address(rnd, chain_id) for _ in range(12)]
    for n, address in enumerate(mine):
        if n < 3:  # three wallets held for the hard cases below, introduced long ago
            introduced, active = date(2025, 1, 1), True
        elif n == 3:  # one inactive, one introduced on 3/4: each reason in every world
            introduced, active = date(2025, 1, 1), False
        elif n in (4, 6):
            introduced, active = date(2025, 3, 4), True
        elif n == 5:
            introduced, active = date(2025, 3, 4), False
        else:
            introduced = date(2025, 2, 1) if rnd.random() < 0.65 else rnd.choice(late_dates)
            active = rnd.random() > 0.15
        factories.wallet(partner, address, chain_id, introduced=introduced, active=active)
    theirs = [_address(rnd, chain_id) for _ in range(2)]
    for address in theirs:
        factories.wallet(stranger, address, chain_id, introduced=date(2025, 1, 1))
    nobody = _address(rnd, chain_id)  # rewards and events of an address no partner has

    def moment():
        if rnd.random() < 0.4:  # on a boundary, or a second before or after one
            return rnd.choice(boundaries) + timedelta(seconds=rnd.choice((-1, 0, 0, 1)))
        return periods[0].start_time + timedelta(
            minutes=rnd.randrange(-3000, sum(HOURS) * 60 + 600)
        )

    events = []
    blip, boundary, zero_rated = mine[:3]
    # Wallets 5 (inactive, introduced late) and 6 (introduced late) earn no reward at all:
    # each is still held back, with nothing, in every period.
    rewarded = [a for n, a in enumerate(mine) if n not in (5, 6)]
    inside = periods[1].start_time + timedelta(hours=3)
    # A blip: staked and unstaked at one instant inside a period, never staked.
    events += [
        ("VoteA", blip, "STAKE", Decimal(2), inside),
        ("VoteA", blip, "UNSTAKE", Decimal(2), inside),
    ]
    # Staked from long before, unstaked exactly at period 2's start: staked in 0 and 1 only;
    # staked again exactly at period 4's end (the next period's start): staked in 5 only.
    events += [
        ("VoteB", boundary, "STAKE", Decimal("1.5"), FIRST - timedelta(days=9)),
        ("VoteB", boundary, "UNSTAKE", Decimal("7"), periods[2].start_time),
        ("VoteB", boundary, "RESTAKE", Decimal("0.000000001"), periods[4].end_time),
    ]
    # Staked all along with VoteB and VoteC: the 0 bps rule of VoteB applies to its MEV.
    events += [
        (v, zero_rated, "STAKE", Decimal(3), FIRST - timedelta(days=3)) for v in ("VoteB", "VoteC")
    ]
    for address in [*mine[3:], *theirs, nobody]:
        for validator in rnd.sample(VALIDATORS, rnd.randrange(0, 3)):
            for _ in range(rnd.randrange(1, 7)):
                when, amount = moment(), _stake(rnd)
                kind = rnd.choice(("STAKE", "RESTAKE", "UNSTAKE", "UNSTAKE"))
                events.append((validator, address, kind, amount, when))
                if rnd.random() < 0.2:  # a second event at the very same instant
                    other = "STAKE" if kind == "UNSTAKE" else "UNSTAKE"
                    events.append((validator, address, other, amount, when))
    factories.events(payloads["ev"], periods[0], events)
    for period in periods:
        rows = [
            (validator, address, component, _amount(rnd))
            for address in [*rewarded, *theirs, nobody]
            for validator in VALIDATORS
            for component in COMPONENTS
            if rnd.random() < 0.45
        ]
        rows += [
            (v, address, "MEV", _amount(rnd))
            for v, address in (("VoteA", blip), ("VoteB", boundary), ("VoteB", zero_rated))
            if not any(r[:3] == (v, address, "MEV") for r in rows)
        ]
        factories.rewards(payloads["rewards"], period, rows)
    return periods


def _rules(rnd: random.Random) -> list[str]:
    """MEV for all validators, 0 bps beside it for VoteB; others at random, among them a
    validator rule with no general rule for its component, and a 0 bps general one."""
    others = [
        "REWARDS=2500",
        "REWARDS=1@VoteB",
        "EXEC_FEES=3333@VoteA",
        "MEV=7@VoteC",
        "EXEC_FEES=0",
        "REWARDS=0@VoteC",
    ]
    return ["MEV=5000", "MEV=0@VoteB", *rnd.sample(others, rnd.randrange(0, len(others) + 1))]


def _world(seed: int):
    """A partner on three chains with four agreements (two on Solana, cut apart by their
    dates), a stranger partner with an agreement of its own on Solana."""
    rnd = random.Random(seed)
    partner = factories.partner(f"Partner {seed}", "solana", "ethereum", "cosmos")
    stranger = factories.partner(f"Stranger {seed}")
    for chain_id, offset in (("solana", 0), ("ethereum", 5), ("cosmos", -7)):
        _chain_world(rnd, chain_id, partner, stranger, offset)
    cut = rnd.choice([date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)])
    agreements = [
        factories.agreement(
            partner,
            *_rules(rnd),
            name="SOL early",
            effective_to=cut,
            wallet_attribution=True,
        ),
        factories.agreement(
            partner,
            *_rules(rnd),
            name="SOL late",
            effective_from=cut + timedelta(days=1),
            wallet_attribution=True,
        ),
        factories.agreement(
            partner,
            *_rules(rnd),
            chain_id="ethereum",
            name="ETH",
            effective_from=date(2025, 3, 2),
            wallet_attribution=True,
        ),
        factories.agreement(
            partner,
            *_rules(rnd),
            chain_id="cosmos",
            name="ATOM",
            effective_to=date(2025, 3, 4),
            wallet_attribution=True,
        ),
    ]
    factories.agreement(stranger, "MEV=9000", "REWARDS=9000", wallet_attribution=True)
    db.session.commit()
    return partner, agreements


# ---- What the engine gives, and what was stored -----------------------------------------


def _engine(agreement, date_from=DATE_FROM, date_to=DATE_TO):
    return inputs.compute_agreement(agreement, date_from, date_to).result


def _engine_lines(agreement, result) -> list[tuple]:
    return sorted(
        (
            agreement.agreement_id,
            period_uuid(line.period_id),
            line.validator_key,
            str(line.revenue_component),
            line.wallet_address,
            line.base_amount_native,
            line.commission_rate_bps,
            line.commission_amount_native,
        )
        for line in result.lines
    )


def _engine_grouped(result) -> dict:
    """Per period id: the exclusions grouped as the engine's commit stores them."""
    by_period: dict = {}
    for ex in result.exclusions:
        by_period.setdefault(period_uuid(ex.period_id), []).append(ex)
    return {
        period_uuid(p.period_id): grouped_exclusions(by_period.get(period_uuid(p.period_id), []))
        for p in result.periods
    }


def _engine_exclusions(agreement, result) -> list[tuple]:
    return sorted(
        (
            agreement.agreement_id,
            period_id,
            wallet,
            validator,
            joined_components(components),
            reason,
            count,
            held,
        )
        for period_id, grouped in _engine_grouped(result).items()
        for (wallet, validator, reason), (count, held, components) in grouped.items()
    )


def _stored_lines(agreement) -> list[tuple]:
    L = PartnerCommissionLine
    return sorted(
        (a, p, v, str(c), w, base, rate, commission)
        for a, p, v, c, w, base, rate, commission in db.session.execute(
            select(
                L.agreement_id,
                L.period_id,
                L.validator_key,
                L.revenue_component,
                L.wallet_address,
                L.base_amount_native,
                L.commission_rate_bps,
                L.commission_amount_native,
            ).where(
                L.agreement_id == agreement.agreement_id,
                L.line_kind == LineKind.COMMISSION.value,
            )
        )
    )


def _stored_exclusions(agreement) -> list[tuple]:
    X = CommissionExclusion
    return sorted(
        tuple(row)
        for row in db.session.execute(
            select(
                X.agreement_id,
                X.period_id,
                X.wallet_address,
                X.validator_key,
                X.revenue_component,
                X.reason,
                X.exclusion_count,
                X.held_back_amount_native,
            ).where(X.agreement_id == agreement.agreement_id)
        )
    )


def _sort_key(row):
    return tuple("" if value is None else str(value) for value in row)


def _pairs(agreement) -> dict:
    RP = CommissionRunPeriod
    return {
        rp.period_id: rp
        for rp in db.session.scalars(select(RP).where(RP.agreement_id == agreement.agreement_id))
    }


def _digests(agreements) -> dict:
    """Per agreement, per period id: the pair's lines digest."""
    return {a.agreement_id: {p: rp.lines_digest for p, rp in _pairs(a).items()} for a in agreements}


def _line_ids(agreement) -> dict:
    L = PartnerCommissionLine
    return dict(
        db.session.execute(
            select(L.line_id, L.period_id).where(L.agreement_id == agreement.agreement_id)
        ).all()
    )


def _assert_as_the_engine(outcome):
    """The stored rows, run totals and pair sums of one agreement's commit are the engine's."""
    agreement = outcome.agreement
    engine = _engine(agreement)
    assert _stored_lines(agreement) == _engine_lines(agreement, engine)
    assert sorted(_stored_exclusions(agreement), key=_sort_key) == sorted(
        _engine_exclusions(agreement, engine), key=_sort_key
    )
    run = db.session.get(CommissionRun, outcome.run.run_id)
    assert (
        run.period_count,
        run.line_count,
        run.total_base_native,
        run.total_commission_native,
        run.excluded_amount_native,
    ) == (
        len(engine.periods),
        len(engine.lines),
        engine.total_base_native,
        engine.total_commission_native,
        engine.excluded_amount_native,
    )
    pairs = _pairs(agreement)
    assert set(pairs) == {period_uuid(p.period_id) for p in engine.periods}
    grouped = _engine_grouped(engine)
    for period in engine.periods:
        period_id = period_uuid(period.period_id)
        lines = [line for line in engine.lines if line.period_id == period.period_id]
        assert pair_sums.load(pairs[period_id].sums) == pair_sums.load(
            pair_sums.dump(lines, grouped[period_id])
        ), period.label
        assert pairs[period_id].run_id == run.run_id
    return engine


def _commit_in_database(partner, monkeypatch, date_from=DATE_FROM, date_to=DATE_TO):
    """Commit the partner's range, the engine out of reach of the commit."""

    def no_engine(*args, **kwargs):
        raise AssertionError("a wallet-attribution commit on PostgreSQL ran the engine")

    with monkeypatch.context() as patched:
        patched.setattr(committing, "compute_scope", no_engine)
        computation = committing.commit(partner, date_from, date_to)
    db.session.expire_all()
    return computation


# ---- The tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_stored_lines_and_exclusions_are_the_engines_line_by_line(app, monkeypatch, seed):
    partner, agreements = _world(seed)
    computation = _commit_in_database(partner, monkeypatch)
    assert sorted(o.agreement.name for o in computation.outcomes) == sorted(
        a.name for a in agreements
    )

    reasons, zero_rated_lines, ties = set(), 0, 0
    for outcome in computation.outcomes:
        engine = _assert_as_the_engine(outcome)
        assert engine.lines  # every agreement pays something
        reasons |= {ex.reason for ex in engine.exclusions}
        zero_rated_lines += sum(1 for line in engine.lines if line.commission_rate_bps == 0)
        ties += sum(
            1
            for line in engine.lines
            if (line.base_amount_native * line.commission_rate_bps).scaleb(-4)
            != line.commission_amount_native
        )
        # Every row is the run's, stamped with its instant.
        L, X = PartnerCommissionLine, CommissionExclusion
        run = outcome.run
        assert set(
            db.session.execute(
                select(L.run_id, L.partner_id, L.created_at, L.corrects_run_id).where(
                    L.agreement_id == outcome.agreement.agreement_id
                )
            )
        ) == {(run.run_id, partner.partner_id, run.created_at, None)}
        assert set(
            db.session.scalars(
                select(X.run_id).where(X.agreement_id == outcome.agreement.agreement_id)
            )
        ) == {run.run_id}
        # The commit's figures are the stored run's.
        assert outcome.result.line_count == len(engine.lines)
        assert outcome.result.component_totals() == engine.component_totals()
        assert outcome.result.exclusion_totals() == engine.exclusion_totals()
    # The world turned on every rule: each reason, a 0 bps rule, a rounded product.
    assert reasons == set(REASONS)
    assert zero_rated_lines and ties
    # The stranger's wallets earned nothing here.
    stranger_wallets = set(
        db.session.scalars(
            select(PartnerWallet.wallet_address).where(
                PartnerWallet.partner_id != partner.partner_id
            )
        )
    )
    assert not stranger_wallets & {
        w for a in agreements for (_, _, _, _, w, _, _, _) in _stored_lines(a)
    }


def test_a_commit_within_part_of_the_agreements_dates_is_the_engines(app, monkeypatch):
    """A range that cuts every agreement's periods (from 3/2 to 3/4)."""
    partner, _ = _world(11)
    low, high = date(2025, 3, 2), date(2025, 3, 4)
    computation = _commit_in_database(partner, monkeypatch, low, high)
    for outcome in computation.outcomes:
        engine = _engine(outcome.agreement, low, high)
        assert _stored_lines(outcome.agreement) == _engine_lines(outcome.agreement, engine)
        assert sorted(_stored_exclusions(outcome.agreement), key=_sort_key) == sorted(
            _engine_exclusions(outcome.agreement, engine), key=_sort_key
        )
        assert all(p.start_date >= low and p.start_date <= high for p in engine.periods)


def test_a_recommit_with_nothing_changed_carries_every_pair(app, monkeypatch):
    partner, agreements = _world(21)
    first = _commit_in_database(partner, monkeypatch)
    ids = {a.agreement_id: _line_ids(a) for a in agreements}
    pairs = {
        a.agreement_id: {p: rp.lines_digest for p, rp in _pairs(a).items()} for a in agreements
    }

    second = _commit_in_database(partner, monkeypatch)
    for before, outcome in zip(first.outcomes, second.outcomes, strict=True):
        assert outcome.unchanged and outcome.carried_from == before.run.run_id
        agreement = outcome.agreement
        held = _pairs(agreement)
        assert {p: rp.lines_digest for p, rp in held.items()} == pairs[agreement.agreement_id]
        assert {rp.run_id for rp in held.values()} == {outcome.run.run_id}
        assert _line_ids(agreement) == ids[agreement.agreement_id]
        _assert_as_the_engine(outcome)


def test_a_pair_computed_again_with_the_same_result_keeps_its_rows(app, monkeypatch):
    """Pairs whose inputs digest is unknown are computed again in the database; their
    result is the same, so the lines digest matches and no row is rewritten, while the new
    run holds every pair and carries the right totals and sums."""
    partner, agreements = _world(22)
    _commit_in_database(partner, monkeypatch)
    ids = {a.agreement_id: _line_ids(a) for a in agreements}
    digests = {
        a.agreement_id: {p: rp.lines_digest for p, rp in _pairs(a).items()} for a in agreements
    }
    assert all(
        d.startswith(set_based_lines.SQL_DIGEST_PREFIX) and len(d) == 64
        for by_period in digests.values()
        for d in by_period.values()
    )
    db.session.execute(update(CommissionRunPeriod).values(inputs_digest=None))
    db.session.commit()

    again = _commit_in_database(partner, monkeypatch)
    for outcome in again.outcomes:
        agreement = outcome.agreement
        assert not outcome.unchanged
        assert _line_ids(agreement) == ids[agreement.agreement_id]  # nothing rewritten
        assert {p: rp.lines_digest for p, rp in _pairs(agreement).items()} == digests[
            agreement.agreement_id
        ]
        _assert_as_the_engine(outcome)


def test_after_one_reward_changed_only_its_period_is_rewritten(app, monkeypatch):
    partner, agreements = _world(23)
    _commit_in_database(partner, monkeypatch)
    target = agreements[2]  # ETH
    ids = _line_ids(target)
    R, W = CanonicalStakerRewardsDetail, PartnerWallet
    paid = _stored_lines(target)[0]
    period_id, validator, component, wallet = paid[1], paid[2], paid[3], paid[4]
    reward = db.session.scalars(
        select(R).where(
            R.period_id == period_id,
            R.validator_key == validator,
            R.revenue_component == component,
            R.staker_address == wallet,
        )
    ).one()
    reward.reward_amount_native += Decimal("0.000000000000000001")
    db.session.commit()
    assert db.session.scalar(select(W.partner_id).where(W.wallet_address == wallet)) == (
        partner.partner_id
    )

    again = _commit_in_database(partner, monkeypatch)
    for outcome in again.outcomes:
        _assert_as_the_engine(outcome)
    after = _line_ids(target)
    kept = {i for i, p in ids.items() if p != period_id}
    assert kept <= set(after)  # the other periods' rows stayed as they were
    assert not {i for i, p in ids.items() if p == period_id} & set(after)  # this one rewritten


def test_a_change_that_keeps_every_total_is_still_written(app, monkeypatch):
    """Two wallets' rewards of one period, validator and component trade amounts: every
    total and sum of the pair stays, its lines do not; the pair is written again."""
    partner, agreements = _world(24)
    _commit_in_database(partner, monkeypatch)
    target = agreements[0]
    lines = _stored_lines(target)
    first, second = next(
        (a, b) for a in lines for b in lines if a[1:4] == b[1:4] and a[4] != b[4] and a[5] != b[5]
    )
    R = CanonicalStakerRewardsDetail

    def reward(line):
        return db.session.scalars(
            select(R).where(
                R.period_id == line[1],
                R.validator_key == line[2],
                R.revenue_component == line[3],
                R.staker_address == line[4],
            )
        ).one()

    one, other = reward(first), reward(second)
    one.reward_amount_native, other.reward_amount_native = (
        other.reward_amount_native,
        one.reward_amount_native,
    )
    db.session.commit()
    again = _commit_in_database(partner, monkeypatch)
    for outcome in again.outcomes:
        _assert_as_the_engine(outcome)


def test_only_wallet_attribution_is_written_in_the_database(app):
    partner = factories.partner("Revenue", "solana")
    agreement = factories.agreement(partner, "MEV=500")
    assert not set_based_lines.applies(agreement)
    agreement.wallet_attribution_enabled = True
    assert set_based_lines.applies(agreement)  # on PostgreSQL only (this file's marker)


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def test_the_commit_joins_the_reward_rows_to_the_wallets_table_itself(app):
    """The partner's wallets are read from their table inside the statement, not from a
    materialized CTE: the planner then knows how few they are against the reward rows and
    hashes the wallets, not the reward rows (a hash of millions of reward rows outgrows the
    statement's memory and spills to disk)."""
    _, agreements = _world(3)
    agreement = agreements[0]
    periods = inputs.scope_of(agreement, DATE_FROM, DATE_TO)
    statement, params = set_based_lines._statement(agreement, periods, None, ())
    connection = db.session.connection()
    with set_based_lines._settings(connection, set_based_lines.SETTINGS):
        plan = connection.execute(text(f"EXPLAIN (FORMAT JSON) {statement}"), params).scalar()
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    ctes = {node.get("CTE Name") for node in nodes if node.get("CTE Name")}
    tables = {node.get("Relation Name") for node in nodes}
    assert "graded" in ctes and "wallets" not in ctes
    assert "partner_wallets" in tables


def test_a_commission_is_rounded_half_to_even_past_fourteen_places(app, monkeypatch):
    """A base of at most 14 places gives an exact product at 1 or 3 bps; past 14 places the
    product needs rounding, and a tie keeps the even neighbour. Each expected commission is
    worked out by hand."""
    partner = factories.partner("Rounding", "solana")
    source = factories.provider("rounding")
    payloads = {kind: factories.payload(source, kind) for kind in ("periods", "rewards", "ev")}
    period = factories.period(
        payloads["periods"], "2025-03-01", factories.utc(2025, 3, 1), factories.utc(2025, 3, 2)
    )
    rnd = random.Random(14)
    # (base, component, commission): REWARDS at 1 bps, MEV at 3 bps.
    cases = [
        ("0.00000000000001", "REWARDS", "0.000000000000000001"),  # 14 places: exact
        ("0.00000000000003", "REWARDS", "0.000000000000000003"),
        ("0.00000000000005", "MEV", "0.000000000000000015"),  # 14 places, 3 bps: exact
        ("0.000000000000005", "REWARDS", "0"),  # 0.5e-18: a tie, 0 is even
        ("0.000000000000015", "REWARDS", "0.000000000000000002"),  # 1.5e-18: up to 2
        ("0.000000000000025", "REWARDS", "0.000000000000000002"),  # 2.5e-18: down to 2
        ("0.000000000000005", "MEV", "0.000000000000000002"),  # 1.5e-18 at 3 bps
        ("123.456789012345678", "REWARDS", "0.012345678901234568"),  # ...5678 past: up
        ("0.000000000000000005", "REWARDS", "0"),  # 5e-22: below half
    ]
    wallets = [_address(rnd, "solana") for _ in cases]
    for address in wallets:
        factories.wallet(partner, address, introduced=date(2025, 1, 1))
    factories.events(
        payloads["ev"],
        period,
        [("VoteA", address, "STAKE", Decimal(1), factories.utc(2025, 2, 1)) for address in wallets],
    )
    factories.rewards(
        payloads["rewards"],
        period,
        [
            ("VoteA", address, component, Decimal(base))
            for address, (base, component, _) in zip(wallets, cases, strict=True)
        ],
    )
    agreement = factories.agreement(partner, "REWARDS=1", "MEV=3", wallet_attribution=True)
    db.session.commit()

    computation = _commit_in_database(partner, monkeypatch)

    L = PartnerCommissionLine
    stored = dict(
        db.session.execute(
            select(L.wallet_address, L.commission_amount_native).where(
                L.agreement_id == agreement.agreement_id
            )
        ).all()
    )
    assert stored == {
        address: Decimal(commission)
        for address, (_, _, commission) in zip(wallets, cases, strict=True)
    }
    _assert_as_the_engine(computation.outcomes[0])


def test_a_commits_line_ids_ascend_in_the_order_of_its_key(app, monkeypatch):
    """The lines are written in the order of their unique key (period, wallet, validator,
    component), with ascending ids: the key's index and the ids' fill left to right."""
    partner, agreements = _world(5)
    _commit_in_database(partner, monkeypatch)
    L = PartnerCommissionLine
    components = list(COMPONENTS)  # the enum's order
    written = 0
    for agreement in agreements:
        rows = db.session.execute(
            select(L.line_id, L.period_id, L.wallet_address, L.validator_key, L.revenue_component)
            .where(L.agreement_id == agreement.agreement_id)
            .order_by(L.line_id)
        ).all()
        written += len(rows)
        by_key = sorted(
            rows,
            key=lambda row: (
                uuid.UUID(str(row.period_id)),
                row.wallet_address.encode(),
                row.validator_key.encode(),
                components.index(str(row.revenue_component)),
            ),
        )
        assert [row.line_id for row in by_key] == [row.line_id for row in rows]
    assert written > 30
