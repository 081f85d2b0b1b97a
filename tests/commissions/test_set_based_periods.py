"""Set-based figures kept per period (PostgreSQL): after one new period is imported, a
question over every period sums, or a commit computes, that period alone; the answer is
the one a cold computation gives (nothing kept), field by field, and the engine's; and a
change to an input moves exactly the periods it should.

The worlds are those of `test_set_based` (four periods, fourteen wallets, blips, ties,
boundaries, late and inactive wallets, a stranger)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, text, update

from tests import factories
from tests.commissions.test_set_based import _world
from tests.imports.test_imports import REWARDS_HEADER
from webapp import reward_partitions
from webapp.commissions import committing, inputs, kept, set_based, set_based_lines
from webapp.commissions.terms import period_key, terms_of
from webapp.extensions import db
from webapp.imports.importing import import_file
from webapp.models import (
    AgreementRule,
    CanonicalPeriod,
    CanonicalStakerRewardsDetail,
    CommissionExclusion,
    CommissionRun,
    CommissionRunPeriod,
    KeptPeriod,
    PartnerCommissionLine,
    PartnerWallet,
)

pytestmark = pytest.mark.postgres_only

MARCH = (date(2025, 3, 1), date(2025, 3, 31))


def _scope(agreement):
    return inputs.scope_of(agreement, *MARCH)


def _ask(agreement, scope=None):
    return set_based.wallet_attribution_summary(
        agreement.partner_id,
        agreement.chain_id,
        terms_of(agreement),
        scope or _scope(agreement),
    )


def _forget_kept():
    db.session.execute(delete(KeptPeriod))
    db.session.commit()


def _fields(summary) -> tuple:
    return (
        summary.slice_sums(),
        summary.held_sums(),
        summary.periods_with_rows,
        summary.line_count,
        summary.total_base_native,
        summary.total_commission_native,
        summary.excluded_amount_native,
        summary.component_totals(),
        summary.exclusion_totals(),
    )


def _assert_cold_and_engine(agreement, summary):
    """The summary is the one summed with nothing kept, field by field, and the engine's."""
    _forget_kept()
    cold = _ask(agreement)
    assert cold.summed == {period_key(p.period_id) for p in _scope(agreement)}
    assert _fields(summary) == _fields(cold)
    engine = inputs.compute_agreement(agreement, *MARCH).result
    assert summary.slice_sums() == engine.slice_sums()
    assert summary.held_sums() == engine.held_sums()


def _partner_rewards(agreement, period):
    R, W = CanonicalStakerRewardsDetail, PartnerWallet
    return db.session.scalars(
        select(R)
        .join(W, W.wallet_address == R.staker_address)
        .where(W.partner_id == agreement.partner_id, R.period_id == period.period_id)
        .order_by(R.staker_address, R.validator_key, R.revenue_component)
    ).all()


def _take_out_last_period(agreement) -> list[tuple]:
    """Remove the last period's reward rows (every wallet's), as if it were not imported
    yet; returns them as `factories.rewards` takes them."""
    last = _scope(agreement)[-1]
    R = CanonicalStakerRewardsDetail
    rows = db.session.scalars(select(R).where(R.period_id == last.period_id)).all()
    taken = [
        (r.validator_key, r.staker_address, r.revenue_component, r.reward_amount_native)
        for r in rows
    ]
    db.session.execute(delete(R).where(R.period_id == last.period_id))
    db.session.commit()
    return taken


def _import_last_period(agreement, rows, with_event=True):
    """The last period's rewards imported, with a stake event inside it by an active,
    staked wallet of the partner."""
    last = _scope(agreement)[-1]
    period = db.session.get(CanonicalPeriod, last.period_id)
    source = factories.provider(f"late {agreement.agreement_id}")
    factories.rewards(factories.payload(source, "rewards"), period, rows)
    if with_event:
        wallet = _active_wallet(agreement)
        factories.events(
            factories.payload(source, "events"),
            period,
            [("VoteA", wallet, "STAKE", Decimal(3), last.start_time + timedelta(hours=1))],
        )
    db.session.commit()


def _active_wallet(agreement) -> str:
    W = PartnerWallet
    return db.session.scalars(
        select(W.wallet_address)
        .where(W.partner_id == agreement.partner_id, W.is_active)
        .order_by(W.wallet_address)
        .limit(1)
    ).one()


def _key(period) -> str:
    return period_key(period.period_id)


@pytest.mark.parametrize("seed", [1, 2])
def test_after_one_new_period_only_it_is_summed_and_the_answer_is_the_cold_one(app, seed):
    agreement = _world(seed)
    rows = _take_out_last_period(agreement)
    scope = _scope(agreement)
    first = _ask(agreement)
    assert first.summed == {_key(p) for p in scope}
    assert _ask(agreement).summed == set()  # asked again: nothing summed

    _import_last_period(agreement, rows)
    after = _ask(agreement)
    assert after.summed == {_key(scope[-1])}
    assert after != first and after.line_count > first.line_count
    # A window of the last three periods reads every one back.
    assert _ask(agreement, scope[1:]).summed == set()
    _assert_cold_and_engine(agreement, after)


def _change_reward(agreement, scope):
    _partner_rewards(agreement, scope[1])[0].reward_amount_native += Decimal("1e-18")
    return {1}


def _change_stranger_reward(agreement, scope):
    """A period's figures are kept by the revision of all its reward rows: another partner's
    row changed moves its period too (summed again, to the same figures)."""
    R, W = CanonicalStakerRewardsDetail, PartnerWallet
    stranger = db.session.scalars(
        select(R)
        .join(W, W.wallet_address == R.staker_address)
        .where(W.partner_id != agreement.partner_id, R.period_id == scope[2].period_id)
        .limit(1)
    ).one()
    stranger.reward_amount_native += 5
    return {2}


def _event_in_third_period(agreement, scope):
    third = db.session.get(CanonicalPeriod, scope[2].period_id)
    source = factories.provider("later events")
    factories.events(
        factories.payload(source, "events"),
        third,
        [("VoteB", _active_wallet(agreement), "STAKE", 1, scope[2].start_time + timedelta(0, 60))],
    )
    return {2, 3}


def _event_before_every_period(agreement, scope):
    first = db.session.get(CanonicalPeriod, scope[0].period_id)
    source = factories.provider("old events")
    factories.events(
        factories.payload(source, "events"),
        first,
        [("VoteC", _active_wallet(agreement), "STAKE", 2, scope[0].start_time - timedelta(9))],
    )
    return {0, 1, 2, 3}


def _deactivate_wallet(agreement, scope):
    wallet = db.session.scalars(
        select(PartnerWallet).where(
            PartnerWallet.wallet_address == _active_wallet(agreement),
            PartnerWallet.partner_id == agreement.partner_id,
        )
    ).one()
    wallet.is_active = False
    return {0, 1, 2, 3}


def _introduce_later(agreement, scope):
    wallet = db.session.scalars(
        select(PartnerWallet).where(PartnerWallet.wallet_address == _active_wallet(agreement))
    ).one()
    wallet.introduced_date = date(2025, 3, 2)
    return {0, 1, 2, 3}


def _change_rate(agreement, scope):
    rule = db.session.scalars(
        select(AgreementRule).where(AgreementRule.agreement_id == agreement.agreement_id)
    ).first()
    rule.commission_rate_bps = rule.commission_rate_bps // 2 + 1
    return {0, 1, 2, 3}


def _change_dates(agreement, scope):
    agreement.effective_from = date(2025, 2, 1)
    return {0, 1, 2, 3}


@pytest.mark.parametrize(
    "change",
    [
        _change_reward,
        _change_stranger_reward,
        _event_in_third_period,
        _event_before_every_period,
        _deactivate_wallet,
        _introduce_later,
        _change_rate,
        _change_dates,
    ],
)
def test_a_change_moves_exactly_the_periods_it_should(app, change):
    agreement = _world(3)
    scope = _scope(agreement)
    before = _ask(agreement)
    moved = change(agreement, scope)
    db.session.commit()
    db.session.expire_all()
    after = _ask(agreement)
    assert after.summed == {_key(scope[n]) for n in moved}
    if change in (_change_reward, _change_rate, _deactivate_wallet):
        assert _fields(after) != _fields(before)
    _assert_cold_and_engine(agreement, after)


def test_a_period_page_reads_the_period_kept_by_the_preview_of_a_longer_range(app):
    agreement = _world(4)
    scope = _scope(agreement)
    terms = terms_of(agreement)
    _ask(agreement)
    part = set_based.kept_period(
        agreement.partner_id, agreement.chain_id, terms, scope[1:2], scope[1].period_id
    )
    engine = inputs.compute_agreement(agreement, *MARCH).result
    mine = scope[1].period_id
    assert part.slice_sums() == {k: v for k, v in engine.slice_sums().items() if k[0] == mine}
    assert part.held_sums() == {k: v for k, v in engine.held_sums().items() if k[0] == mine}


def test_only_the_newest_periods_of_a_partner_are_kept(app, monkeypatch):
    monkeypatch.setattr(kept, "KEPT_PERIODS_PER_PARTNER", 3)
    agreement = _world(8)
    _ask(agreement)
    assert db.session.scalar(select(db.func.count()).select_from(KeptPeriod)) == 3


# ---- The commit ---------------------------------------------------------------------------


def _commit(agreement, monkeypatch, computed: list):
    """Commit March in the database (the engine out of reach), recording the periods each
    set-based computation took."""
    real = set_based_lines._computed

    def counted(agreement, periods, run, write):
        computed.append(sorted(period_key(p.period_id) for p in periods))
        return real(agreement, periods, run, write)

    def no_engine(*args, **kwargs):
        raise AssertionError("a wallet-attribution commit on PostgreSQL ran the engine")

    with monkeypatch.context() as patched:
        patched.setattr(committing, "compute_scope", no_engine)
        patched.setattr(set_based_lines, "_computed", counted)
        committing.commit(agreement.partner, *MARCH)
    db.session.expire_all()


def _stored(agreement) -> tuple:
    """The stored result of the agreement: its lines and exclusions (without ids and runs),
    its pairs' digests and sums, and its standing run's totals."""
    L, X, RP, R = PartnerCommissionLine, CommissionExclusion, CommissionRunPeriod, CommissionRun
    mine = L.agreement_id == agreement.agreement_id
    lines = db.session.execute(
        select(
            L.period_id,
            L.validator_key,
            L.revenue_component,
            L.wallet_address,
            L.base_amount_native,
            L.commission_rate_bps,
            L.commission_amount_native,
        )
        .where(mine)
        .order_by(L.period_id, L.validator_key, L.revenue_component, L.wallet_address)
    ).all()
    exclusions = sorted(
        db.session.execute(
            select(
                X.period_id,
                X.wallet_address,
                X.validator_key,
                X.reason,
                X.exclusion_count,
                X.held_back_amount_native,
            ).where(X.agreement_id == agreement.agreement_id)
        ).all(),
        key=str,
    )
    pairs = db.session.execute(
        select(RP.period_id, RP.lines_digest, RP.sums)
        .where(RP.agreement_id == agreement.agreement_id)
        .order_by(RP.period_id)
    ).all()
    run = db.session.execute(
        select(
            R.line_count,
            R.total_base_native,
            R.total_commission_native,
            R.excluded_amount_native,
            R.period_count,
        )
        .where(R.agreement_id == agreement.agreement_id, R.status == "committed")
        .order_by(R.created_at.desc())
        .limit(1)
    ).one()
    return lines, exclusions, pairs, tuple(run)


def test_a_commit_after_one_new_period_computes_that_period_alone(app, monkeypatch):
    agreement = _world(5)
    rows = _take_out_last_period(agreement)
    scope = _scope(agreement)
    computed = []
    _commit(agreement, monkeypatch, computed)
    assert computed == [sorted(_key(p) for p in scope)]  # the first commit: every period

    # The new period's rows and a stake event inside it move every pair's run-level digest:
    # each is measured, from its kept figures, and only the new period is computed.
    _import_last_period(agreement, rows)
    computed.clear()
    _commit(agreement, monkeypatch, computed)
    assert {key for keys in computed for key in keys} == {_key(scope[-1])}
    warm = _stored(agreement)
    engine = inputs.compute_agreement(agreement, *MARCH).result
    assert len(warm[0]) == len(engine.lines) and warm[3][0] == len(engine.lines)
    assert warm[3][2] == sum((line.commission_amount_native for line in engine.lines), Decimal(0))

    # Cold: nothing kept, nothing carried, every row written again; the same result.
    _forget_kept()
    db.session.execute(update(CommissionRunPeriod).values(inputs_digest=None, lines_digest=""))
    db.session.commit()
    computed.clear()
    _commit(agreement, monkeypatch, computed)
    assert computed and all(keys == sorted(_key(p) for p in scope) for keys in computed)
    assert _stored(agreement) == warm


def test_a_commit_after_a_rate_change_computes_every_period(app, monkeypatch):
    agreement = _world(6)
    computed = []
    _commit(agreement, monkeypatch, computed)
    _change_rate(agreement, _scope(agreement))
    db.session.commit()
    computed.clear()
    _commit(agreement, monkeypatch, computed)
    assert {key for keys in computed for key in keys} == {_key(p) for p in _scope(agreement)}
    engine = inputs.compute_agreement(agreement, *MARCH).result
    assert _stored(agreement)[3][2] == sum(
        (line.commission_amount_native for line in engine.lines), Decimal(0)
    )


# ---- Every path that writes reward rows --------------------------------------------------------
#
# Each changes the second period's reward rows (the last one moves a row into the third too)
# and returns the periods it moved. The kept figures of a period are keyed by the revision
# the database draws for its rows (`webapp.reward_revisions`): whatever writes them, the
# period is summed again, the others are read back, and the answer is the engine's.

TABLE = "canonical_staker_rewards_detail"


def _partner_row(agreement, scope, n=1):
    """The partner's first reward row of period `n` (by wallet, validator, component)."""
    period = db.session.get(CanonicalPeriod, scope[n].period_id)
    return _partner_rewards(agreement, period)[0]


def _csv(tmp_path, name, rows) -> str:
    """A staker-rewards file of (period label, validator, staker, component, amount)."""
    path = tmp_path / name
    body = "".join(
        f"solana,{label},{validator},{staker},{component},{format(amount, 'f')}\n"
        for label, validator, staker, component, amount in rows
    )
    path.write_text(REWARDS_HEADER + body)
    return str(path)


def _imported(path, **options):
    report = import_file("staker-rewards", path, "late provider", **options)
    assert report.ok, report.headline()


def _import_a_row(agreement, scope, tmp_path):
    wallet = _active_wallet(agreement)
    _imported(_csv(tmp_path, "one.csv", [("P1", "VoteNew", wallet, "MEV", Decimal("7.5"))]))
    return {1}


def _replace_the_period(agreement, scope, tmp_path):
    R = CanonicalStakerRewardsDetail
    changed = _partner_row(agreement, scope)
    rows = [
        (
            "P1",
            r.validator_key,
            r.staker_address,
            str(r.revenue_component),
            r.reward_amount_native + (1 if r.staker_reward_id == changed.staker_reward_id else 0),
        )
        for r in db.session.scalars(select(R).where(R.period_id == scope[1].period_id))
    ]
    _imported(_csv(tmp_path, "replaced.csv", rows), replace=True)
    return {1}


def _update_through_the_table(agreement, scope, tmp_path):
    row = _partner_row(agreement, scope)
    db.session.execute(
        text(
            f"UPDATE {TABLE} SET reward_amount_native = reward_amount_native + 0.000001 "
            f"WHERE staker_reward_id = '{row.staker_reward_id}'"
        )
    )
    return {1}


def _update_the_partition(agreement, scope, tmp_path):
    row = _partner_row(agreement, scope)
    db.session.execute(
        text(
            f"UPDATE {reward_partitions.partition_name(scope[1].period_id)} "
            "SET reward_amount_native = reward_amount_native * 2 "
            f"WHERE staker_reward_id = '{row.staker_reward_id}'"
        )
    )
    return {1}


def _delete_through_the_table(agreement, scope, tmp_path):
    row = _partner_row(agreement, scope)
    db.session.execute(
        text(f"DELETE FROM {TABLE} WHERE staker_reward_id = '{row.staker_reward_id}'")
    )
    return {1}


def _delete_in_the_partition(agreement, scope, tmp_path):
    row = _partner_row(agreement, scope)
    name = reward_partitions.partition_name(scope[1].period_id)
    db.session.execute(
        text(f"DELETE FROM {name} WHERE staker_reward_id = '{row.staker_reward_id}'")
    )
    return {1}


def _insert_into_the_partition(agreement, scope, tmp_path):
    row = _partner_row(agreement, scope)
    name = reward_partitions.partition_name(scope[1].period_id)
    columns = (
        "staker_reward_id, chain_id, period_id, validator_key, staker_address, "
        "revenue_component, reward_amount_native, source_provider_id, source_payload_id, "
        "normalized_at"
    )
    copied = columns.replace("staker_reward_id", "gen_random_uuid()")
    copied = copied.replace("validator_key", "'VoteNew'")
    db.session.execute(
        text(
            f"INSERT INTO {name} ({columns}) SELECT {copied} FROM {TABLE} "
            f"WHERE staker_reward_id = '{row.staker_reward_id}'"
        )
    )
    return {1}


def _truncate_the_partition(agreement, scope, tmp_path):
    db.session.execute(text(f"TRUNCATE {reward_partitions.partition_name(scope[1].period_id)}"))
    return {1}


def _move_a_row_to_the_next_period(agreement, scope, tmp_path):
    row = _partner_row(agreement, scope)
    db.session.execute(
        text(
            f"UPDATE {TABLE} SET period_id = '{scope[2].period_id}', validator_key = 'VoteMoved' "
            f"WHERE staker_reward_id = '{row.staker_reward_id}'"
        )
    )
    return {1, 2}


WRITES = [
    _import_a_row,
    _replace_the_period,
    _update_through_the_table,
    _update_the_partition,
    _delete_through_the_table,
    _delete_in_the_partition,
    _insert_into_the_partition,
    _truncate_the_partition,
    _move_a_row_to_the_next_period,
]


def _partitioned_world(seed):
    """The world, with each period's rows in its own partition (as an import leaves them)."""
    agreement = _world(seed)
    reward_partitions.ensure_partitions(db.session.connection())
    db.session.commit()
    return agreement


@pytest.mark.parametrize("write", WRITES)
def test_a_preview_sums_again_the_periods_whose_rows_any_write_changed(app, tmp_path, write):
    agreement = _partitioned_world(9)
    scope = _scope(agreement)
    before = _ask(agreement)
    assert _ask(agreement).summed == set()
    moved = write(agreement, scope, tmp_path)
    db.session.commit()
    db.session.expire_all()
    after = _ask(agreement)
    assert after.summed == {_key(scope[n]) for n in moved}
    assert _fields(after) != _fields(before)
    _assert_cold_and_engine(agreement, after)


def test_rows_in_the_default_partition_changed_there_move_their_period(app):
    agreement = _world(10)  # made by hand: every row in the default partition
    scope = _scope(agreement)
    before = _ask(agreement)
    row = _partner_row(agreement, scope)
    db.session.execute(
        text(
            f"UPDATE {reward_partitions.DEFAULT} SET reward_amount_native = 0 "
            f"WHERE staker_reward_id = '{row.staker_reward_id}'"
        )
    )
    db.session.commit()
    after = _ask(agreement)
    assert after.summed == {_key(scope[1])}
    assert _fields(after) != _fields(before)
    _assert_cold_and_engine(agreement, after)


def _engine_lines(agreement) -> list[tuple]:
    engine = inputs.compute_agreement(agreement, *MARCH).result
    return sorted(
        (
            inputs.period_uuid(line.period_id),
            line.validator_key,
            str(line.revenue_component),
            line.wallet_address,
            line.base_amount_native,
            line.commission_rate_bps,
            line.commission_amount_native,
        )
        for line in engine.lines
    )


@pytest.mark.parametrize(
    "write",
    [
        _import_a_row,
        _replace_the_period,
        _update_through_the_table,
        _update_the_partition,
        _delete_in_the_partition,
        _truncate_the_partition,
    ],
)
def test_a_commit_computes_again_the_periods_whose_rows_any_write_changed(
    app, monkeypatch, tmp_path, write
):
    agreement = _partitioned_world(11)
    scope = _scope(agreement)
    computed = []
    _commit(agreement, monkeypatch, computed)
    # The changed pair's inputs moved: it is measured, from its kept figures were they
    # still keyed by its period's digest, and written again when its figures differ.
    moved = write(agreement, scope, tmp_path)
    db.session.commit()
    db.session.expire_all()
    computed.clear()
    _commit(agreement, monkeypatch, computed)
    assert {key for keys in computed for key in keys} == {_key(scope[n]) for n in moved}
    lines = [(p, v, str(c), w, b, r, m) for p, v, c, w, b, r, m in _stored(agreement)[0]]
    assert sorted(lines) == _engine_lines(agreement)
    engine = inputs.compute_agreement(agreement, *MARCH).result
    run = _stored(agreement)[3]
    assert run[:4] == (
        len(engine.lines),
        engine.total_base_native,
        engine.total_commission_native,
        engine.excluded_amount_native,
    )
