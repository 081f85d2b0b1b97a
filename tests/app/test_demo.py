"""`flask seed-demo`: loads a demo that exercises the rules, and a second run changes nothing."""

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import (
    Agreement,
    AgreementRule,
    CanonicalPeriod,
    CanonicalStakeEvent,
    CanonicalStakerRewardsDetail,
    CanonicalValidatorRevenue,
    Chain,
    Partner,
    PartnerWallet,
    StagingPayload,
    User,
)

TABLES = (
    Chain,
    Partner,
    PartnerWallet,
    CanonicalPeriod,
    CanonicalValidatorRevenue,
    CanonicalStakerRewardsDetail,
    CanonicalStakeEvent,
    Agreement,
    AgreementRule,
    StagingPayload,
    User,
)


def _counts():
    return {m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in TABLES}


def test_seed_demo_loads_and_is_idempotent(runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "demo login: demo@example.com / demo-password" in first.output
    counts = _counts()
    assert counts["chains"] == 2 and counts["partners"] == 2
    assert counts["partner_wallets"] == 50
    assert counts["canonical_periods"] == 20
    assert counts["agreements"] == 2

    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    assert "nothing changed" in second.output
    assert _counts() == counts


def test_demo_covers_the_rules(runner):
    runner.invoke(args=["seed-demo"])
    wallets = db.session.scalars(select(PartnerWallet)).all()
    assert any(not w.is_active for w in wallets)
    assert len({w.introduced_date for w in wallets}) > 1
    assert (
        db.session.scalar(
            select(func.count()).select_from(Agreement).where(Agreement.wallet_attribution_enabled)
        )
        == 1
    )
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AgreementRule)
            .where(AgreementRule.validator_key.is_not(None))
        )
        == 1
    )
    event_types = set(db.session.scalars(select(CanonicalStakeEvent.event_type)))
    assert {e.value for e in event_types} == {"STAKE", "UNSTAKE", "RESTAKE"}
    # Every stake event lies inside the period it is filed under.
    rows = db.session.execute(
        select(
            CanonicalStakeEvent.event_timestamp,
            CanonicalPeriod.start_time,
            CanonicalPeriod.end_time,
        ).join(CanonicalPeriod, CanonicalPeriod.period_id == CanonicalStakeEvent.period_id)
    ).all()
    assert rows and all(start <= ts < end for ts, start, end in rows)


def test_seed_demo_if_empty_leaves_a_used_database_alone(runner, make_user):
    make_user("admin")
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(Partner)) == 0


def test_demo_login_works(runner, client):
    from tests.conftest import csrf_token_from

    runner.invoke(args=["seed-demo"])
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        data={"email": "demo@example.com", "password": "demo-password", "csrf_token": token},
    )
    assert response.status_code == 302
    page = client.get("/partners/")
    assert b"Aurora Wallet" in page.data and b"Borealis Exchange" in page.data
