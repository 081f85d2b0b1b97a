"""`flask agreements create`: the agreement and its rules stored and audit-logged, and every
refusal DOMAIN.md asks for, each with one clear line on standard error."""

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from tests import factories
from webapp.agreements.service import parse_rate_spec
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Agreement, AgreementRule, AuditLog, RevenueComponent
from webapp.partners.service import create_partner


@pytest.fixture
def world(app):
    return factories.partner("Acme Wallet", "solana", "ethereum")


def create(runner, *args):
    return runner.invoke(args=["agreements", "create", *args])


def agreement_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Agreement))


def refused(result, fragment: str) -> None:
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]
    assert agreement_count() == 0 or "overlaps" in fragment


def test_create_stores_the_agreement_rules_and_audit_entry(runner, world):
    result = create(
        runner,
        "acme wallet",
        "--chain",
        "solana",
        "--name",
        "Acme 2025",
        "--from",
        "2025-01-01",
        "--to",
        "2025-12-31",
        "--wallet-attribution",
        "--rate",
        "MEV=500",
        "--rate",
        "rewards=1000",
        "--rate",
        "REWARDS=1500@Vote111",
    )
    assert result.exit_code == 0, result.output
    assert "created agreement Acme 2025" in result.stdout
    agreement = db.session.scalars(select(Agreement)).one()
    assert agreement.partner_id == world.partner_id
    assert (agreement.effective_from, agreement.effective_to) == (
        date(2025, 1, 1),
        date(2025, 12, 31),
    )
    assert agreement.wallet_attribution_enabled is True
    rules = db.session.scalars(select(AgreementRule)).all()
    assert sorted(
        (r.revenue_component.value, r.validator_key or "", r.commission_rate_bps) for r in rules
    ) == [
        ("MEV", "", 500),
        ("REWARDS", "", 1000),
        ("REWARDS", "Vote111", 1500),
    ]
    entry = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "agreement")).one()
    assert entry.action == "create"
    assert entry.entity_id == str(agreement.agreement_id)
    after = json.loads(entry.after)
    assert after["name"] == "Acme 2025"
    assert after["rules"] == ["MEV=500", "REWARDS=1000", "REWARDS=1500@Vote111"]


def test_open_ended_total_revenue_agreement(runner, world):
    result = create(
        runner,
        "Acme Wallet",
        "--chain",
        "ethereum",
        "--name",
        "Eth",
        "--from",
        "2025-01-01",
        "--rate",
        "EXEC_FEES=0",
    )
    assert result.exit_code == 0, result.output
    agreement = db.session.scalars(select(Agreement)).one()
    assert agreement.effective_to is None
    assert agreement.wallet_attribution_enabled is False
    assert agreement.rules[0].commission_rate_bps == 0


BASE = ["Acme Wallet", "--chain", "solana", "--name", "A", "--from", "2025-01-01"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "Nobody",
                "--chain",
                "solana",
                "--name",
                "A",
                "--from",
                "2025-01-01",
                "--rate",
                "MEV=1",
            ],
            "no partner named 'Nobody'",
        ),
        (
            [
                "Acme Wallet",
                "--chain",
                "dogecoin",
                "--name",
                "A",
                "--from",
                "2025-01-01",
                "--rate",
                "MEV=1",
            ],
            "unknown chain 'dogecoin'",
        ),
        ([*BASE, "--rate", "TIPS=100"], "unknown revenue component 'TIPS'"),
        ([*BASE, "--rate", "MEV=10001"], "from 0 to 10000"),
        ([*BASE, "--rate", "MEV=-1"], "from 0 to 10000"),
        ([*BASE, "--rate", "MEV=12.5"], "whole number"),
        ([*BASE, "--rate", "MEV"], "is not COMPONENT=BPS"),
        ([*BASE, "--rate", "MEV=5@"], "empty validator"),
        ([*BASE, "--rate", "MEV=5", "--rate", "mev=6"], "duplicate rule: MEV for all validators"),
        (
            [*BASE, "--rate", "MEV=5@V1", "--rate", "MEV=6@V1"],
            "duplicate rule: MEV for validator V1",
        ),
        ([*BASE, "--to", "2024-12-31", "--rate", "MEV=5"], "is before effective_from"),
        (
            [
                "Acme Wallet",
                "--chain",
                "solana",
                "--name",
                " ",
                "--from",
                "2025-01-01",
                "--rate",
                "MEV=1",
            ],
            "needs a name",
        ),
    ],
)
def test_refusals(runner, world, args, message):
    refused(create(runner, *args), message)


def test_missing_rate_or_bad_date_is_a_usage_error(runner, world):
    assert create(runner, *BASE).exit_code != 0
    result = create(
        runner,
        "Acme Wallet",
        "--chain",
        "solana",
        "--name",
        "A",
        "--from",
        "01/02/2025",
        "--rate",
        "MEV=1",
    )
    assert result.exit_code != 0
    assert agreement_count() == 0


@pytest.mark.parametrize(
    ("existing", "new", "overlaps"),
    [
        (("2025-01-01", None), ("2030-01-01", None), True),  # open-ended reaches every later date
        (("2025-01-01", "2025-06-30"), ("2025-06-30", "2025-12-31"), True),  # inclusive end
        (("2025-01-01", "2025-06-30"), ("2024-01-01", None), True),
        (("2025-01-01", "2025-06-30"), ("2024-01-01", "2025-01-01"), True),
        (("2025-01-01", "2025-06-30"), ("2025-07-01", None), False),  # adjacent is fine
        (("2025-07-01", None), ("2025-01-01", "2025-06-30"), False),
    ],
)
def test_overlapping_agreements_are_refused(runner, world, existing, new, overlaps):
    def args(span, name):
        dates = ["--from", span[0]] + (["--to", span[1]] if span[1] else [])
        return ["Acme Wallet", "--chain", "solana", "--name", name, *dates, "--rate", "MEV=5"]

    assert create(runner, *args(existing, "First")).exit_code == 0
    result = create(runner, *args(new, "Second"))
    if overlaps:
        refused(result, "overlaps agreement 'First'")
        assert agreement_count() == 1
    else:
        assert result.exit_code == 0, result.output
        assert agreement_count() == 2


def test_agreements_on_other_chains_or_partners_do_not_overlap(runner, world):
    create_partner("Beta Exchange")
    spans = ["--from", "2025-01-01", "--rate", "MEV=5"]
    assert create(runner, "Acme Wallet", "--chain", "solana", "--name", "S", *spans).exit_code == 0
    assert (
        create(runner, "Acme Wallet", "--chain", "ethereum", "--name", "E", *spans).exit_code == 0
    )
    assert (
        create(runner, "Beta Exchange", "--chain", "solana", "--name", "B", *spans).exit_code == 0
    )
    assert agreement_count() == 3


def test_parse_rate_spec():
    spec = parse_rate_spec(" exec_fees = 250 @ Vote111 ")
    assert (spec.revenue_component, spec.validator_key, spec.commission_rate_bps) == (
        RevenueComponent.EXEC_FEES,
        "Vote111",
        250,
    )
    assert str(spec) == "EXEC_FEES=250@Vote111"
    with pytest.raises(FieldError):
        parse_rate_spec("MEV=1e3")


def test_agreement_list_shows_the_created_agreement(runner, world, viewer_client):
    create(runner, *BASE, "--rate", "MEV=5@V1")
    page = viewer_client.get("/agreements/")
    assert page.status_code == 200
    assert b"MEV@<code>V1</code> 5 bps" in page.data
