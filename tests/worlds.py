"""The worlds tests run in: the partners, chains, periods, wallets, rewards and agreements
that many test files share, built in one place.

- `build_world` / `world_with_agreements`: Acme Wallet on Solana (three daily periods, one
  wallet per outcome) and Ethereum (one period of revenue), made straight through
  `factories`; the `world` fixture of conftest.py is `world_with_agreements()`.
- `setup` (with `ok`, `refused`, `rewards_file`, `JAN`, `FEB`, ...): Acme Wallet on monthly
  periods, made through the command line as operators do, for the month-end close.
- `two_partners`: chains and two partners with nothing else, for the wallet files, the pages
  and the API.
"""

import csv
import io
import os
from datetime import UTC, date, datetime
from types import SimpleNamespace

import base58
from sqlalchemy import func, select

from tests import factories
from webapp.addresses import eip55_checksum
from webapp.extensions import db
from webapp.models import CommissionRun
from webapp.partners.service import find_partner_by_name

# ---- the service world: Acme on three daily Solana periods and one Ethereum period ----------

V1, V2 = "Vote111", "Vote222"
W_PAID, W_INACTIVE, W_LATE, W_UNSTAKED, W_OTHER = (
    "WalletPaid",
    "WalletOff",
    "WalletLate",
    "WalletOut",
    "NotOurs",
)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2025, 1, day, hour, tzinfo=UTC)


def build_world(wallet_count: int = 0):
    """Solana with three daily periods (1-3 Jan 2025) and Ethereum with one, a partner with
    one wallet per outcome (plus `wallet_count` extra paid wallets), and rewards, events and
    revenue for them; a reward of a stranger's wallet that must never count."""
    acme = factories.partner("Acme Wallet", "solana", "ethereum")
    provider = factories.provider("jito")
    sources = {
        kind: factories.payload(provider, kind)
        for kind in ("periods", "staker-rewards", "stake-events")
    }
    sources["validator-revenue"] = factories.payload(provider, "validator-revenue", "ethereum")
    sources["eth-periods"] = factories.payload(provider, "periods", "ethereum")
    periods = [
        factories.period(sources["periods"], f"70{day}", at(day), at(day + 1)) for day in (1, 2, 3)
    ]
    eth_period = factories.period(sources["eth-periods"], "2025-01-02", at(2), at(3), "ethereum")

    extra = [f"Extra{i:04d}" for i in range(wallet_count)]
    wallets = [
        (W_PAID, date(2024, 12, 1), True),
        (W_INACTIVE, date(2024, 12, 1), False),
        (W_LATE, date(2025, 1, 2), True),
        (W_UNSTAKED, date(2024, 12, 1), True),
    ] + [(address, date(2024, 12, 1), True) for address in extra]
    for address, introduced, active in wallets:
        factories.wallet(acme, address, "solana", introduced, active)
    for period in periods:
        factories.rewards(
            sources["staker-rewards"],
            period,
            [
                (V1, address, component, amount)
                for address in [W_PAID, W_INACTIVE, W_LATE, W_UNSTAKED, W_OTHER, *extra]
                for component, amount in (("MEV", "1.5"), ("REWARDS", "10.000000000000000001"))
            ]
            + [(V2, W_PAID, "EXEC_FEES", "0.25")],
        )
    staking = [
        (W_PAID, "STAKE", "100", at(1)),
        (W_LATE, "STAKE", "5", at(1)),
        (W_OTHER, "STAKE", "5", at(1)),
    ]
    # W_UNSTAKED staked in December, unstaked everything on 2 Jan at 12:00.
    staking += [
        (W_UNSTAKED, "STAKE", "7", datetime(2024, 12, 30, tzinfo=UTC)),
        (W_UNSTAKED, "UNSTAKE", "7", at(2, 12)),
    ]
    staking += [(address, "STAKE", "1", at(1)) for address in extra]
    factories.events(
        sources["stake-events"],
        periods[0],
        [(V1, address, kind, amount, when) for address, kind, amount, when in staking],
    )
    factories.revenue(
        sources["validator-revenue"],
        eth_period,
        [("=cmd|evil", "MEV", "99999999999999999999.5"), ("=cmd|evil", "EXEC_FEES", "3")],
    )
    db.session.commit()
    return SimpleNamespace(
        acme=acme, periods=periods, eth_period=eth_period, sources=sources, extra=extra
    )


def add_agreements(partner):
    """Acme SOL (wallet attribution, MEV 10 %, REWARDS 5 % with Vote111) and Acme ETH (total
    revenue, MEV 2.5 %)."""
    solana = factories.agreement(
        partner, "MEV=1000", f"REWARDS=500@{V1}", name="Acme SOL", wallet_attribution=True
    )
    ethereum = factories.agreement(partner, "MEV=250", chain_id="ethereum", name="Acme ETH")
    return solana, ethereum


def world_with_agreements(wallet_count: int = 0):
    """`build_world` with the partner's Solana and Ethereum agreements."""
    world = build_world(wallet_count)
    world.solana, world.ethereum = add_agreements(world.acme)
    return world


def count(model, *where) -> int:
    """How many rows of a model (that match `where`) are stored."""
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# ---- the command-line world: Acme on monthly periods, for the month-end close ---------------

VOTE = base58.b58encode(bytes([9]) * 32).decode()
PAID, LATE = (base58.b58encode(bytes([n]) * 32).decode() for n in (1, 2))
ETH_VALIDATOR = "0xvalidator"
JAN = ("Acme Wallet", "--from", "2025-01-01", "--to", "2025-01-31")
FEB = ("Acme Wallet", "--from", "2025-02-01", "--to", "2025-02-28")
MAR = ("Acme Wallet", "--from", "2025-03-01", "--to", "2025-03-31")
REWARDS_HEADER = (
    "chain_id,period,validator_key,staker_address,revenue_component,reward_amount_native"
)


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def ok(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


def refused(runner, *args, message: str):
    result = runner.invoke(args=list(args))
    assert result.exit_code != 0, (args, result.output)
    assert message in result.output, result.output
    return result


def rewards_file(tmp_path, name: str, rows) -> str:
    body = [REWARDS_HEADER] + [f"solana,{p},{VOTE},{w},{c},{a}" for p, w, c, a in rows]
    return write(tmp_path / name, "\n".join(body) + "\n")


def _users(runner):
    for email, role in (
        ("ann@example.com", "manager"),
        ("bob@example.com", "manager"),
        ("root@example.com", "admin"),
        ("vic@example.com", "viewer"),
    ):
        ok(runner, "users", "create", email, "--role", role, "--password", "a-long-password")


def setup(runner, tmp_path):
    """Solana (four monthly periods, 2025-01 to 2025-04) and Ethereum (2025-01); Ann and Bob
    (managers), root (admin), Vic (viewer); Acme Wallet with PAID and LATE on Solana, both
    staked with VOTE; Acme SOL (wallet attribution, MEV 10 %, REWARDS 5 %) and Acme ETH
    (total revenue, MEV 2.5 %) from 1 Jan 2025. Made through the command line."""
    ok(
        runner,
        *("chains", "add", "solana", "--name", "Solana", "--symbol", "SOL"),
        *("--decimals", "9", "--address-format", "base58-32"),
    )
    ok(
        runner,
        *("chains", "add", "ethereum", "--name", "Ethereum", "--symbol", "ETH"),
        *("--decimals", "18", "--address-format", "evm"),
    )
    _users(runner)
    ok(runner, "partners", "create", "Acme Wallet")
    wallets = write(
        tmp_path / "wallets.csv",
        f"wallet_address,introduced_date\n{PAID},2024-12-01\n{LATE},2024-12-01\n",
    )
    ok(runner, "wallets", "import", "Acme Wallet", wallets, "--chain", "solana")
    periods = write(
        tmp_path / "periods.csv",
        "chain_id,label,start_time,end_time\n"
        "solana,2025-01,2025-01-01T00:00:00Z,2025-02-01T00:00:00Z\n"
        "solana,2025-02,2025-02-01T00:00:00Z,2025-03-01T00:00:00Z\n"
        "solana,2025-03,2025-03-01T00:00:00Z,2025-04-01T00:00:00Z\n"
        "solana,2025-04,2025-04-01T00:00:00Z,2025-05-01T00:00:00Z\n"
        "ethereum,2025-01,2025-01-01T00:00:00Z,2025-02-01T00:00:00Z\n",
    )
    ok(runner, "import", "periods", periods, "--provider", "solana-rpc")
    rewards = rewards_file(
        tmp_path,
        "rewards.csv",
        [
            ("2025-01", PAID, "MEV", "10"),
            ("2025-01", PAID, "REWARDS", "4"),
            ("2025-01", LATE, "MEV", "2"),
            ("2025-02", PAID, "MEV", "6"),
            ("2025-03", PAID, "MEV", "1"),
        ],
    )
    ok(runner, "import", "staker-rewards", rewards, "--provider", "jito")
    events = write(
        tmp_path / "events.csv",
        "chain_id,validator_key,staker_address,event_type,stake_amount_native,event_timestamp\n"
        f"solana,{VOTE},{PAID},STAKE,100,2025-01-01T00:00:00Z\n"
        f"solana,{VOTE},{LATE},STAKE,5,2025-01-01T00:00:00Z\n",
    )
    ok(runner, "import", "stake-events", events, "--provider", "solana-rpc")
    revenue = write(
        tmp_path / "revenue.csv",
        "chain_id,period,validator_key,revenue_component,amount_native\n"
        f"ethereum,2025-01,{ETH_VALIDATOR},MEV,8\n",
    )
    ok(runner, "import", "validator-revenue", revenue, "--provider", "beacon")
    ok(
        runner,
        *("agreements", "create", "Acme Wallet", "--chain", "solana", "--name", "Acme SOL"),
        *("--from", "2025-01-01", "--wallet-attribution"),
        *("--rate", "MEV=1000", "--rate", "REWARDS=500"),
    )
    ok(
        runner,
        *("agreements", "create", "Acme Wallet", "--chain", "ethereum", "--name", "Acme ETH"),
        *("--from", "2025-01-01", "--rate", "MEV=250"),
    )
    return find_partner_by_name("Acme Wallet")


def runs_of(status=None):
    stmt = select(CommissionRun).order_by(CommissionRun.created_at)
    if status:
        stmt = stmt.where(CommissionRun.status == status)
    return db.session.scalars(stmt).all()


def february_carrying_a_true_up(runner, tmp_path) -> CommissionRun:
    """January committed and approved, its rewards corrected, February committed with the
    true-up: February's Solana run, which carries January's two adjustments."""
    setup(runner, tmp_path)
    ok(runner, "commissions", "compute", *JAN, "--commit", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *JAN, "--as", "bob@example.com")
    corrected = rewards_file(
        tmp_path,
        "rewards-fixed.csv",
        [("2025-01", PAID, "MEV", "13"), ("2025-01", PAID, "REWARDS", "4")],
    )
    ok(runner, "import", "staker-rewards", corrected, "--provider", "jito", "--replace")
    ok(runner, "commissions", "compute", *FEB, "--commit", "--true-up", "--as", "ann@example.com")
    db.session.expire_all()
    return next(
        r
        for r in runs_of("committed")
        if r.date_from == date(2025, 2, 1) and r.agreement.name == "Acme SOL"
    )


def commit_january(runner, tmp_path) -> dict[str, CommissionRun]:
    """`setup`, then January committed by Ann: its committed runs by agreement name."""
    setup(runner, tmp_path)
    ok(runner, "commissions", "compute", *JAN, "--commit", "--as", "ann@example.com")
    db.session.expire_all()
    stmt = select(CommissionRun).where(
        CommissionRun.date_from == date(2025, 1, 1), CommissionRun.status == "committed"
    )
    return {run.agreement.name: run for run in db.session.scalars(stmt)}


# ---- partners and wallets --------------------------------------------------------------------


def solana_address() -> str:
    """A fresh, valid Solana address."""
    return base58.b58encode(os.urandom(32)).decode()


def evm_address() -> str:
    """A fresh, valid EIP-55 checksummed address."""
    return "0x" + eip55_checksum(os.urandom(20).hex())


def wallet_csv(rows, header="wallet_address,chain_id,introduced_date,notes") -> bytes:
    """CSV bytes of a header and rows (tuples), LF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return buffer.getvalue().encode()


def two_partners(*chain_ids: str):
    """Chains (by default three, one per address format) and two partners, Acme Wallet and
    Beta Exchange."""
    factories.chains(*(chain_ids or ("solana", "ethereum", "cosmos")))
    return SimpleNamespace(
        acme=factories.partner("Acme Wallet"), beta=factories.partner("Beta Exchange")
    )
