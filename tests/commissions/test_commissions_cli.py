"""The whole command-line path, as an operator runs it: chains, partner, wallets, canonical
imports, an agreement, a preview, two commits and the export, on SQLite and PostgreSQL."""

import csv
import io
import os

import base58
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import CommissionRun, PartnerCommissionLine


def solana_address(seed: int) -> str:
    """A valid, stable Solana address (32 bytes in base58)."""
    return base58.b58encode(bytes([seed]) * 32).decode()


PAID, LATE, NOT_STAKED, STRANGER = (solana_address(n) for n in (1, 2, 3, 4))
VOTE = solana_address(9)


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return str(path)


def ok(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


def test_import_create_compute_commit_twice_export(app, runner, tmp_path):
    ok(
        runner,
        "chains",
        "add",
        "solana",
        "--name",
        "Solana",
        "--symbol",
        "SOL",
        "--decimals",
        "9",
        "--address-format",
        "base58-32",
    )
    ok(runner, "partners", "create", "Acme Wallet")
    wallets = write(
        tmp_path / "wallets.csv",
        "wallet_address,introduced_date\n"
        f"{PAID},2024-12-01\n{LATE},2025-01-02\n{NOT_STAKED},2024-12-01\n",
    )
    ok(runner, "wallets", "import", "Acme Wallet", wallets, "--chain", "solana")

    periods = write(
        tmp_path / "periods.csv",
        "chain_id,label,start_time,end_time\n"
        "solana,701,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z\n"
        "solana,702,2025-01-02T00:00:00Z,2025-01-03T00:00:00Z\n",
    )
    rewards = [
        "chain_id,period,validator_key,staker_address,revenue_component,reward_amount_native"
    ]
    for period in ("701", "702"):
        for wallet in (PAID, LATE, NOT_STAKED, STRANGER):
            rewards.append(f"solana,{period},{VOTE},{wallet},MEV,2.000000000000000001")
            rewards.append(f"solana,{period},{VOTE},{wallet},REWARDS,10")
    rewards_file = write(tmp_path / "rewards.csv", "\r\n".join(rewards) + "\r\n")
    events = write(
        tmp_path / "events.csv",
        "chain_id,validator_key,staker_address,event_type,stake_amount_native,event_timestamp\n"
        f"solana,{VOTE},{PAID},STAKE,100,2025-01-01T00:00:00Z\n"
        f"solana,{VOTE},{LATE},STAKE,5,2025-01-01T06:00:00\n"
        f"solana,{VOTE},{NOT_STAKED},STAKE,5,2025-01-01T06:00:00Z\n"
        f"solana,{VOTE},{NOT_STAKED},UNSTAKE,9,2025-01-01T07:00:00Z\n",
    )
    ok(runner, "import", "periods", periods, "--provider", "solana-rpc")
    ok(runner, "import", "staker-rewards", rewards_file, "--provider", "jito")
    ok(runner, "import", "stake-events", events, "--provider", "solana-rpc")

    ok(
        runner,
        *("agreements", "create", "Acme Wallet", "--chain", "solana", "--name", "Acme 2025"),
        *(
            "--from",
            "2025-01-01",
            "--wallet-attribution",
            "--rate",
            "MEV=1250",
            "--rate",
            "REWARDS=300",
        ),
    )
    span = ("Acme Wallet", "--from", "2025-01-01", "--to", "2025-01-31")
    preview = ok(runner, "commissions", "compute", *span)
    # PAID: 2 periods; LATE: 702 only; NOT_STAKED: 701 only (unstaked at 07:00 on 1 Jan).
    # MEV 2.000000000000000001 x 12.5% = 0.250000000000000000125 -> 0.25 per line.
    assert "2 period(s), 8 line(s)" in preview.stdout
    assert (
        "MEV        lines        4  base 8.000000000000000004 SOL  commission 1 SOL"
        in preview.stdout
    )
    assert "REWARDS    lines        4  base 40 SOL  commission 1.2 SOL" in preview.stdout
    assert (
        "excluded: introduced after period start: 1 held back 12.000000000000000001 SOL"
        in preview.stdout
    )
    assert (
        "excluded: not staked with validator during period: 2 held back 12.000000000000000001 SOL"
        in preview.stdout
    )
    assert db.session.scalar(select(func.count()).select_from(CommissionRun)) == 0

    ok(
        runner,
        "users",
        "create",
        "ann@example.com",
        "--role",
        "manager",
        "--password",
        "a-long-password",
    )
    ok(runner, "commissions", "compute", *span, "--commit", "--as", "ann@example.com")
    ok(runner, "commissions", "compute", *span, "--commit", "--as", "ann@example.com")
    db.session.expire_all()
    statuses = sorted(db.session.scalars(select(CommissionRun.status)))
    assert statuses == ["committed", "superseded"]
    assert db.session.scalar(select(func.count()).select_from(PartnerCommissionLine)) == 8

    out = tmp_path / "out" / "acme.csv"
    os.makedirs(out.parent)
    ok(runner, "commissions", "export", *span, "-o", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 8
    assert {(r["period"], r["wallet_address"]) for r in rows} == {
        ("701", PAID),
        ("701", NOT_STAKED),
        ("702", PAID),
        ("702", LATE),
    }
    mev = [r for r in rows if r["revenue_component"] == "MEV"]
    assert {
        (r["base_amount_native"], r["commission_rate_bps"], r["commission_amount_native"])
        for r in mev
    } == {("2.000000000000000001", "1250", "0.25")}
    assert rows[0]["period_start"] == "2025-01-01T00:00:00+00:00"
    assert all(r["partner"] == "Acme Wallet" and r["agreement"] == "Acme 2025" for r in rows)
