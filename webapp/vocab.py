"""The words of the domain, spelled once: components, event types, methods, statuses, kinds,
roles, the basis-point ceiling and the reasons a wallet earns nothing.

Plain Python (no Flask, no SQLAlchemy): the models, the engine and the features import it.
Each enum's values are what the database, the CSV files and the pages use.
"""

import enum

#: Basis points in one whole: a rate of `MAX_BPS` pays all of the base.
MAX_BPS = 10_000


class RevenueComponent(enum.StrEnum):
    """The three components of validator revenue, in reading order."""

    EXEC_FEES = "EXEC_FEES"
    MEV = "MEV"
    REWARDS = "REWARDS"


class StakeEventType(enum.StrEnum):
    """Staking lifecycle events."""

    STAKE = "STAKE"
    UNSTAKE = "UNSTAKE"
    RESTAKE = "RESTAKE"


class Method(enum.StrEnum):
    """How an agreement's commission base is found."""

    TOTAL_REVENUE = "total_revenue"
    WALLET_ATTRIBUTION = "wallet_attribution"


class RunStatus(enum.StrEnum):
    """Life of a commission run; the database accepts exactly these values."""

    PREVIEW = "preview"
    COMMITTED = "committed"
    APPROVED = "approved"
    PAID = "paid"
    SUPERSEDED = "superseded"


class LineKind(enum.StrEnum):
    """A commission line as computed, or an adjustment correcting a locked run's lines."""

    COMMISSION = "commission"
    ADJUSTMENT = "adjustment"


class PayloadKind(enum.StrEnum):
    """The kinds of file a staging payload can hold."""

    PERIODS = "periods"
    VALIDATOR_REVENUE = "validator-revenue"
    STAKER_REWARDS = "staker-rewards"
    STAKE_EVENTS = "stake-events"
    PRICES = "prices"
    WALLETS = "wallets"


class Role(enum.StrEnum):
    """What a signed-in user may do: viewers read, managers change, admins also administer."""

    VIEWER = "viewer"
    MANAGER = "manager"
    ADMIN = "admin"


class TokenScope(enum.StrEnum):
    """What an API token may do: read (GET only) or write (whatever its user's role allows)."""

    READ = "read"
    WRITE = "write"


class JobStatus(enum.StrEnum):
    """Life of a background job: queued, then running (under a lease), then done or failed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ExclusionReason(enum.StrEnum):
    """Why a wallet's reward earned nothing, in the order the calculation checks them."""

    WALLET_INACTIVE = "wallet inactive"
    INTRODUCED_AFTER = "introduced after period start"
    NOT_STAKED = "not staked with validator during period"
    NO_RULE = "no rule"


#: Every exclusion reason, in the order the calculation checks them.
REASONS = tuple(reason.value for reason in ExclusionReason)

#: Reasons that hold back a wallet's whole period (no validator, no component).
WALLET_REASONS = frozenset({ExclusionReason.WALLET_INACTIVE, ExclusionReason.INTRODUCED_AFTER})


def joined_components(components) -> str | None:
    """The revenue components one grouped exclusion holds back, as its files and its stored
    row name them: sorted, joined by "+" ("EXEC_FEES+MEV"); None when it names none."""
    return "+".join(sorted(str(c) for c in components if c)) or None


def counted_as(reason: str, wallet_attribution: bool) -> str:
    """What an exclusion count of `reason` counts: a wallet's periods for wallet-level reasons,
    reward rows for the others, revenue rows for "no rule" under the total-revenue method."""
    if reason in WALLET_REASONS:
        return "wallet-periods"
    if reason == ExclusionReason.NO_RULE and not wallet_attribution:
        return "revenue rows"
    return "reward rows"


def sql_in(column: str, members: type[enum.Enum]) -> str:
    """`column IN ('a', 'b', ...)` over an enum's values, for a check constraint."""
    values = ", ".join(f"'{member.value}'" for member in members)
    return f"{column} IN ({values})"
