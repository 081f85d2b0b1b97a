"""The drill-down below a period of a commission result: a period's validators and
components, then a page of the wallets in one of them, each paid or not and why; for a
preview as it computes now, or for a committed run from its stored rows.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from webapp.attribution import AttributionResult
from webapp.commissions import inputs, queries, results
from webapp.commissions.period_sums import PeriodRow, result_periods, run_periods
from webapp.extensions import db
from webapp.models import (
    CanonicalPeriod,
    CanonicalStakerRewardsDetail,
    CommissionExclusion,
    CommissionRun,
    PartnerCommissionLine,
    PartnerWallet,
)
from webapp.money import ZERO

#: Wallets per page of a drill-down's last level.
WALLET_PAGE = 50


@dataclass
class WalletLine:
    """One wallet's outcome in one period, validator and component: its line, or why not."""

    wallet_address: str | None
    base_amount_native: Decimal = ZERO
    commission_rate_bps: int | None = None
    commission_amount_native: Decimal = ZERO
    reasons: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def paid(self) -> bool:
        return self.commission_rate_bps is not None


def wallet_lines_of(result: AttributionResult) -> list[WalletLine]:
    """The lines and exclusions of a (small) result, one row per wallet, by address."""
    rows: dict = {}
    for line in result.lines:
        row = rows.setdefault(line.wallet_address, WalletLine(line.wallet_address))
        row.base_amount_native = line.base_amount_native
        row.commission_rate_bps = line.commission_rate_bps
        row.commission_amount_native = line.commission_amount_native
    for ex in result.exclusions:
        row = rows.setdefault(ex.wallet_address, WalletLine(ex.wallet_address))
        row.reasons.append((ex.reason, ex.held_back_amount_native))
    return [rows[k] for k in sorted(rows, key=lambda a: a or "")]


def run_period_row(run: CommissionRun, period_id) -> PeriodRow | None:
    """One period of a run, with its sums per validator and component."""
    rows = run_periods(run, period_id)
    return rows[0] if rows else None


def run_wallet_lines(
    run: CommissionRun, period_id, validator: str, component: str, after: str, size: int
) -> tuple[list[WalletLine], str | None]:
    """A page of a run's lines and exclusions in one period, validator and component, by
    wallet after `after`; and the cursor of the next page. A run stores a wallet's
    exclusions per validator (its components together), so those are what an unpaid
    wallet shows."""
    L, X = PartnerCommissionLine, CommissionExclusion
    # The commission lines of the pair and the adjustments the run carries, each its own
    # select in wallet order: the first reads the wallet key in its order (agreement,
    # period, wallet, ...) and stops after a page instead of reading the period's lines.
    slice_lines = [
        select(
            L.wallet_address,
            L.base_amount_native,
            L.commission_rate_bps,
            L.commission_amount_native,
        )
        .where(
            kind,
            L.period_id == period_id,
            L.validator_key == validator,
            L.revenue_component == component,
        )
        .order_by(L.wallet_address)
        for kind in queries.lines_of_run_apart(run)
    ]
    held = (
        select(X.wallet_address, X.reason, X.held_back_amount_native)
        .where(
            queries.held_by(X, run),
            X.period_id == period_id,
            X.validator_key == validator,
        )
        .order_by(X.wallet_address)
    )
    if after:
        slice_lines = [lines.where(L.wallet_address > after) for lines in slice_lines]
        held = held.where(X.wallet_address > after)
    rows: dict = {}
    for lines in slice_lines:
        for address, base, rate, commission in db.session.execute(lines.limit(size + 1)):
            rows[address] = WalletLine(address, base, rate, commission)
    for address, reason, amount in db.session.execute(held.limit(size + 1)):
        rows.setdefault(address, WalletLine(address)).reasons.append((reason, amount))
    ordered = [rows[k] for k in sorted(rows, key=lambda a: a or "")]
    if len(ordered) > size:
        return ordered[:size], ordered[size - 1].wallet_address
    return ordered, None


def preview_period_row(
    agreement, period: CanonicalPeriod, date_from: date | None = None, date_to: date | None = None
) -> PeriodRow | None:
    """One period of an agreement as a preview computes it now (`results.period_result`:
    opened from the preview of `date_from` to `date_to`, from the summary it kept when it
    can)."""
    rows = result_periods(results.period_result(agreement, period, date_from, date_to))
    return rows[0] if rows else None


def preview_wallet_lines(
    agreement, period: CanonicalPeriod, validator: str, component: str, after: str, size: int
) -> tuple[list[WalletLine], str | None]:
    """A page of one period, validator and component as a preview computes it now: the
    wallets with a reward there, by address after `after`, each paid or not and why."""
    day = period.start_time.date()
    part = inputs.InputSlice(
        validator_key=validator, revenue_component=component, period_ids=(period.period_id,)
    )
    if not agreement.wallet_attribution_enabled:
        return wallet_lines_of(inputs.compute_slice(agreement, day, day, part)), None
    R, W = CanonicalStakerRewardsDetail, PartnerWallet
    stmt = (
        select(R.staker_address)
        .join(W, (W.chain_id == R.chain_id) & (W.wallet_address == R.staker_address))
        .where(
            W.partner_id == agreement.partner_id,
            R.chain_id == agreement.chain_id,
            R.period_id == period.period_id,
            R.validator_key == validator,
            R.revenue_component == component,
        )
        .order_by(R.staker_address)
        .limit(size + 1)
    )
    if after:
        stmt = stmt.where(R.staker_address > after)
    addresses = db.session.scalars(stmt).all()
    next_cursor = addresses[size - 1] if len(addresses) > size else None
    addresses = tuple(addresses[:size])
    if not addresses:
        return [], None
    result = inputs.compute_slice(
        agreement, day, day, inputs.InputSlice(addresses, validator, component, (period.period_id,))
    )
    return wallet_lines_of(result), next_cursor
