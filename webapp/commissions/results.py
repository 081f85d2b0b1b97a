"""Where a commission result comes from, decided in one place (DOMAIN.md, "Preview").

A result is worked out by one of two sources that agree to the last wei (tests hold the
set-based summary to the engine, `tests/test_set_based.py`):

- the engine (`webapp.attribution`), fed by the input loader (`inputs`): it gives the lines
  and exclusions themselves, under either method, on either database;
- the set-based summary (`set_based`): wallet attribution summed inside PostgreSQL, giving
  totals, breakdowns, exclusions by reason and wallets paid, with no lines.

`summed_by_database` is the rule: a reader that needs only figures gets the summary where the
database can give it; a reader that needs lines (the line files, a commit on SQLite) asks for
them with `lines=True`. The preview page, the JSON API, the command line, the method
comparison and the drill into one period all ask here.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from webapp.agreements.queries import agreements_of_partner
from webapp.attribution import AttributionResult, Period
from webapp.commissions import inputs, set_based
from webapp.commissions.inputs import InputSlice, compute_agreement, scope_of
from webapp.commissions.lifecycle import check_range
from webapp.commissions.terms import terms_of, terms_with_method
from webapp.extensions import db
from webapp.models import Agreement, CanonicalPeriod, CommissionRun, Partner
from webapp.money import ZERO, money_sum, totals_by_token
from webapp.storage import is_postgresql

if TYPE_CHECKING:
    import uuid

    from webapp.commissions.run_rows import StoredResult


def summed_by_database(wallet_attribution: bool) -> bool:
    """True when a result without lines is summed by the database: wallet attribution on
    PostgreSQL. Total revenue is a handful of rows per period; the engine reads them as fast."""
    return wallet_attribution and is_postgresql(db.session)


@dataclass
class TokenTotal:
    """Totals of one token (a chain's symbol): amounts of two tokens are never added."""

    token_symbol: str
    chain_id: str
    line_count: int = 0
    base_amount_native: Decimal = ZERO
    commission_amount_native: Decimal = ZERO
    excluded_amount_native: Decimal = ZERO
    adjustment_count: int = 0
    adjustment_amount_native: Decimal = ZERO


@dataclass
class AgreementOutcome:
    """One agreement's result, and the run it was committed as (None for a preview).

    `carried_from`: the earlier run whose result a commit carried over, having found every
    input as that run was computed from (nothing computed or written); `result` is then
    the stored figures."""

    agreement: Agreement
    result: "AttributionResult | StoredResult | set_based.Summary"
    run: CommissionRun | None = None
    periods_without_data: list[Period] = field(default_factory=list)
    adjustments: list = field(default_factory=list)
    carried_from: "uuid.UUID | None" = None

    @property
    def unchanged(self) -> bool:
        """True when the commit carried an earlier run's result over."""
        return self.carried_from is not None

    @property
    def token_symbol(self) -> str:
        """The symbol of the agreement's chain."""
        return self.agreement.chain.token_symbol


@dataclass
class Computation:
    """The outcome of computing a partner's commissions over a date range."""

    partner: Partner
    date_from: date
    date_to: date
    outcomes: list[AgreementOutcome] = field(default_factory=list)
    committed: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def period_count(self) -> int:
        """Periods in scope over every agreement."""
        return sum(len(o.result.periods) for o in self.outcomes)

    def token_totals(self) -> list[TokenTotal]:
        """Lines, base, commission, held back and adjustments per token, by symbol."""
        totals = token_totals(self.outcomes)
        return [totals[symbol] for symbol in sorted(totals)]


def token_totals(outcomes) -> dict[str, TokenTotal]:
    """The outcomes' totals per token symbol (`money.totals_by_token`), in order of first
    sight: lines, base, commission, held back, adjustments."""
    chains = {o.agreement.chain.token_symbol: o.agreement.chain.chain_id for o in outcomes}
    sums = totals_by_token(
        (
            o.agreement.chain.token_symbol,
            (
                o.result.line_count,
                o.result.total_base_native,
                o.result.total_commission_native,
                o.result.excluded_amount_native,
                len(o.adjustments),
                money_sum(a.commission_amount_native for a in o.adjustments),
            ),
        )
        for o in outcomes
    )
    return {
        symbol: TokenTotal(symbol, chains[symbol], *figures) for symbol, figures in sums.items()
    }


def warnings_of(outcome: AgreementOutcome) -> list[str]:
    """What a reader of the outcome is warned of: periods in scope without input rows."""
    if not outcome.periods_without_data:
        return []
    what = "staker rewards" if outcome.agreement.wallet_attribution_enabled else "validator revenue"
    labels = ", ".join(p.label for p in outcome.periods_without_data)
    return [f"{outcome.agreement.name}: no {what} in period(s) {labels}"]


def agreement_result(
    agreement: Agreement, date_from: date, date_to: date, lines: bool = False
) -> tuple["AttributionResult | set_based.Summary", list[Period]]:
    """One agreement's result over the range, and its periods in scope without input rows.

    Without `lines`, wallet attribution on PostgreSQL is the database's summary (totals,
    breakdowns and exclusions by reason); with `lines`, or otherwise, the engine's result."""
    if not lines and summed_by_database(agreement.wallet_attribution_enabled):
        scope = scope_of(agreement, date_from, date_to)
        summary = set_based.wallet_attribution_summary(
            agreement.partner_id, agreement.chain_id, terms_of(agreement), scope
        )
        return summary, [p for p in scope if p.period_id not in summary.periods_with_rows]
    computed = compute_agreement(agreement, date_from, date_to)
    return computed.result, computed.periods_without_data


def preview(partner: Partner, date_from: date, date_to: date, lines: bool = False) -> Computation:
    """Every agreement of the partner that overlaps the range, computed; nothing stored.

    The results are figures (`agreement_result`); with `lines`, the engine's lines and
    exclusions, for a reader that lists them. Periods in scope without input rows are named
    in `warnings`."""
    check_range(date_from, date_to)
    computation = Computation(partner, date_from, date_to)
    for agreement in agreements_of_partner(partner.partner_id, date_from, date_to):
        result, empty = agreement_result(agreement, date_from, date_to, lines)
        outcome = AgreementOutcome(agreement, result, periods_without_data=empty)
        computation.outcomes.append(outcome)
        computation.warnings.extend(warnings_of(outcome))
    return computation


def method_result(
    agreement: Agreement, date_from: date, date_to: date, wallet_attribution: bool
) -> "AttributionResult | set_based.Summary":
    """What the agreement would pay over the range under the method given (the comparison
    of methods): the database's summary, wallets paid counted, where it sums that method;
    else the engine's result."""
    if summed_by_database(wallet_attribution):
        terms = terms_with_method(agreement, wallet_attribution)
        scope = scope_of(agreement, date_from, date_to)
        return set_based.wallet_attribution_summary(
            agreement.partner_id, agreement.chain_id, terms, scope, count_wallets=True
        )
    return inputs.compute_slice(
        agreement, date_from, date_to, wallet_attribution=wallet_attribution
    )


def period_result(
    agreement: Agreement,
    period: CanonicalPeriod,
    date_from: date | None = None,
    date_to: date | None = None,
) -> "AttributionResult | set_based.Summary":
    """One period of an agreement as a preview computes it now. Opened from the preview of a
    range (`date_from`, `date_to`) where the database sums the method, the period is read
    from the summary that preview kept, when that period's inputs are unchanged; otherwise
    the engine computes that period alone."""
    if date_from and date_to and summed_by_database(agreement.wallet_attribution_enabled):
        kept = set_based.kept_period(
            agreement.partner_id,
            agreement.chain_id,
            terms_of(agreement),
            scope_of(agreement, date_from, date_to),
            period.period_id,
        )
        if kept is not None:
            return kept
    day = period.start_time.date()
    return inputs.compute_slice(agreement, day, day, InputSlice(period_ids=(period.period_id,)))
