"""The digest of a partner's reward rows per period (`fingerprints.partner_rows`), which
every period's inputs digest is made of: kept on PostgreSQL so that the pages read a few rows
instead of every reward row, and never stale: any write to a period's reward rows, or to
the partner's wallets, moves what it is kept under.

The world is `test_set_based`'s (four periods, fourteen wallets, a stranger)."""

from datetime import date

from sqlalchemy import func, select, update

from tests.commissions.test_set_based import _world
from webapp.commissions import fingerprints, inputs, kept
from webapp.commissions.terms import period_key, period_uuid
from webapp.extensions import db
from webapp.models import CanonicalStakerRewardsDetail, KeptPeriod, PartnerWallet

MARCH = (date(2025, 3, 1), date(2025, 3, 31))


def _periods(agreement) -> list:
    return [period_uuid(p.period_id) for p in inputs.scope_of(agreement, *MARCH)]


def _asked(agreement):
    return fingerprints.partner_rows(
        db.session, {(agreement.partner_id, agreement.chain_id)}, _periods(agreement)
    )


def _counted(agreement) -> dict:
    """The same figures added up here, row by row, from the reward rows: the count and the
    sum of each row's digest (as the database hashes it), per period key."""
    R, W = CanonicalStakerRewardsDetail, PartnerWallet
    found = db.session.execute(
        select(R.period_id, fingerprints.reward_digest())
        .join(W, (W.chain_id == R.chain_id) & (W.wallet_address == R.staker_address))
        .where(W.partner_id == agreement.partner_id, R.period_id.in_(_periods(agreement)))
    ).all()
    figures: dict = {}
    for period_id, digest in found:
        key = (agreement.partner_id, agreement.chain_id, period_key(period_id))
        count, total = figures.get(key, (0, 0))
        figures[key] = (count + 1, total + int(digest))
    return {key: (count, str(total)) for key, (count, total) in figures.items()}


def _kept_rows() -> int:
    return db.session.scalar(
        select(func.count()).select_from(KeptPeriod).where(KeptPeriod.kind == kept.KIND_ROWS)
    )


def test_the_figures_are_the_rows_added_up(app):
    agreement = _world(6)
    assert _asked(agreement) == _counted(agreement)
    assert _asked(agreement) == _counted(agreement)


def test_a_kept_figure_is_read_instead_of_the_rows(app, monkeypatch):
    agreement = _world(7)
    first = _asked(agreement)
    if db.engine.dialect.name != "postgresql":
        return  # SQLite keeps nothing: it adds the rows up each time
    assert _kept_rows() == len(_periods(agreement))

    def no_rows(*args):
        raise AssertionError("the reward rows were read again")

    monkeypatch.setattr(fingerprints, "_summed_rows", no_rows)
    assert _asked(agreement) == first


def test_a_swap_of_two_amounts_in_a_period_is_seen(app):
    """Two rows of one period and component trade their amounts: the period's count and
    sum of amounts per component stay as they were, its digest does not; the other periods
    keep theirs."""
    agreement = _world(8)
    before = _asked(agreement)
    R, W = CanonicalStakerRewardsDetail, PartnerWallet
    period = _periods(agreement)[1]
    one, other = db.session.scalars(
        select(R)
        .join(W, (W.chain_id == R.chain_id) & (W.wallet_address == R.staker_address))
        .where(W.partner_id == agreement.partner_id, R.period_id == period)
        .where(R.revenue_component == "MEV")
        .order_by(R.reward_amount_native.desc())
        .limit(2)
    ).all()
    low, high = other.reward_amount_native, one.reward_amount_native
    assert low != high
    for row, amount in ((one, low), (other, high)):
        db.session.execute(
            update(R)
            .where(R.staker_reward_id == row.staker_reward_id, R.period_id == period)
            .values(reward_amount_native=amount)
        )
    db.session.commit()
    after = _asked(agreement)
    assert after == _counted(agreement)
    key = (agreement.partner_id, agreement.chain_id, period_key(period))
    assert after[key] != before[key]
    assert {k: v for k, v in after.items() if k != key} == {
        k: v for k, v in before.items() if k != key
    }


def test_a_wallet_leaving_the_partner_is_seen(app):
    agreement = _world(9)
    before = _asked(agreement)
    W = PartnerWallet
    wallet = db.session.scalars(
        select(W).where(W.partner_id == agreement.partner_id).order_by(W.wallet_address)
    ).first()
    db.session.delete(wallet)
    db.session.commit()
    after = _asked(agreement)
    assert after == _counted(agreement)
    assert after != before
