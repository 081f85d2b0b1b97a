"""A payout's statement, as figures, as CSV and as PDF: the same numbers in each.

The figures are read in a few set-based queries: the runs settled, the periods they hold,
commission per agreement and component, and every adjustment with the period and the
payout it corrects. The PDF is drawn with fpdf2 in a vendored DejaVu font, so any name
prints and its text can be searched and copied.
"""

import os
from dataclasses import dataclass, field
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select

from webapp.commissions.totals import run_totals
from webapp.commissions.valuation import fixed_run_values
from webapp.csvio import write_csv
from webapp.db_types import decimal_sum
from webapp.extensions import db
from webapp.models import (
    Agreement,
    CanonicalPeriod,
    CommissionRun,
    CommissionRunPeriod,
    CommissionRunPrice,
    PartnerCommissionLine,
    Payout,
)
from webapp.money import ZERO, exact_text, money_sum
from webapp.payouts.service import settled_runs, usd_value
from webapp.vocab import LineKind


@dataclass
class ComponentLine:
    """Commission of one agreement and component over the runs settled."""

    agreement: str
    revenue_component: str
    line_count: int
    commission_amount_native: Decimal


@dataclass
class AdjustmentLine:
    """An adjustment a settled run carries: the period it corrects and the payout that
    paid the corrected run (if any)."""

    agreement: str
    period: str
    revenue_component: str
    wallet_address: str | None
    commission_amount_native: Decimal
    corrects_run_id: object
    corrects_statement: str | None

    @property
    def kind(self) -> str:
        """`clawback` for a negative adjustment, else `adjustment`."""
        return "clawback" if self.commission_amount_native < 0 else "adjustment"


@dataclass
class Statement:
    """Everything a partner's statement shows for one payout."""

    payout: Payout
    runs: list[CommissionRun]
    periods: dict = field(default_factory=dict)  # run id -> [period labels]
    components: list[ComponentLine] = field(default_factory=list)
    adjustments: list[AdjustmentLine] = field(default_factory=list)
    totals: dict = field(default_factory=dict)  # run id -> RunTotal
    usd: dict = field(default_factory=dict)  # run id -> (commission, adjustment) USD, fixed
    prices: list = field(default_factory=list)  # (price day, USD price) used, by day

    @property
    def value_usd(self) -> Decimal | None:
        """The net's USD value at the prices fixed at approval; None when a run has none."""
        return usd_value(self.runs, self.usd)

    @property
    def nets(self) -> dict:
        """Each settled run's net (commission plus adjustments), by run id."""
        return {run_id: t.total_native for run_id, t in self.totals.items()}

    @property
    def token_symbol(self) -> str:
        """The payout's token."""
        return self.payout.chain.token_symbol

    @property
    def commission_native(self) -> Decimal:
        """Commission lines of the runs settled."""
        return money_sum(c.commission_amount_native for c in self.components)

    @property
    def adjustment_native(self) -> Decimal:
        """Adjustments carried by the runs settled (negative: clawbacks)."""
        return money_sum(a.commission_amount_native for a in self.adjustments)

    @property
    def carried_out_native(self) -> Decimal:
        """Nothing is carried out of a payout: what is carried stays approved and unpaid."""
        return ZERO


def statement_of(payout: Payout) -> Statement:
    """The figures of a payout's statement."""
    runs = settled_runs(payout)
    run_ids = [r.run_id for r in runs]
    statement = Statement(payout, runs, totals=run_totals(run_ids), usd=fixed_run_values(run_ids))
    F = CommissionRunPrice
    statement.prices = db.session.execute(
        select(F.price_day, F.price_usd)
        .where(F.run_id.in_(run_ids))
        .distinct()
        .order_by(F.price_day)
    ).all()
    if not run_ids:
        return statement
    RP, P, L, A = CommissionRunPeriod, CanonicalPeriod, PartnerCommissionLine, Agreement
    for run_id, label in db.session.execute(
        select(RP.run_id, P.label)
        .join(P, P.period_id == RP.period_id)
        .where(RP.run_id.in_(run_ids))
        .order_by(P.start_time)
    ):
        statement.periods.setdefault(run_id, []).append(label)
    statement.components = [
        ComponentLine(name, str(component), count, amount)
        for name, component, count, amount in db.session.execute(
            select(
                A.name, L.revenue_component, func.count(), decimal_sum(L.commission_amount_native)
            )
            .join(RP, (RP.agreement_id == L.agreement_id) & (RP.period_id == L.period_id))
            .join(A, A.agreement_id == L.agreement_id)
            .where(RP.run_id.in_(run_ids), L.line_kind == LineKind.COMMISSION.value)
            .group_by(A.name, L.revenue_component)
            .order_by(A.name, L.revenue_component)
        )
    ]
    Corrected = db.aliased(CommissionRun)
    Paid = db.aliased(Payout)
    statement.adjustments = [
        AdjustmentLine(name, label, str(component), wallet, amount, corrects, number)
        for name, label, component, wallet, amount, corrects, number in db.session.execute(
            select(
                A.name,
                P.label,
                L.revenue_component,
                L.wallet_address,
                L.commission_amount_native,
                L.corrects_run_id,
                Paid.statement_number,
            )
            .join(A, A.agreement_id == L.agreement_id)
            .join(P, P.period_id == L.period_id)
            .join(Corrected, Corrected.run_id == L.corrects_run_id)
            .outerjoin(Paid, Paid.payout_id == Corrected.payout_id)
            .where(L.run_id.in_(run_ids), L.line_kind == LineKind.ADJUSTMENT.value)
            .order_by(P.start_time, A.name, L.revenue_component, L.wallet_address)
        )
    ]
    return statement


# ---- Files ---------------------------------------------------------------------------------

CSV_HEADER = ("section", "item", "detail", "period", "amount_native", "token_symbol")


def _csv_rows(statement: Statement):
    payout, symbol = statement.payout, statement.token_symbol
    yield ("statement", payout.statement_number, payout.partner.name, "", "", symbol)
    yield ("statement", "payout_reference", payout.payout_reference, "", "", symbol)
    yield ("statement", "paid_on", payout.paid_on.isoformat(), "", "", symbol)
    for run in statement.runs:
        periods = " ".join(statement.periods.get(run.run_id, []))
        yield (
            "run",
            str(run.run_id),
            run.agreement.name,
            periods,
            statement.nets[run.run_id],
            symbol,
        )
    for c in statement.components:
        yield (
            "commission",
            c.agreement,
            c.revenue_component,
            "",
            c.commission_amount_native,
            symbol,
        )
    for a in statement.adjustments:
        detail = f"{a.kind} of run {a.corrects_run_id}"
        if a.corrects_statement:
            detail += f" paid by statement {a.corrects_statement}"
        yield (
            a.kind,
            a.agreement,
            f"{a.revenue_component} {a.wallet_address or ''}".strip() + f"; {detail}",
            a.period,
            a.commission_amount_native,
            symbol,
        )
    yield ("total", "commission", "", "", statement.commission_native, symbol)
    yield ("total", "adjustments", "", "", statement.adjustment_native, symbol)
    yield ("total", "carried_in", "", "", payout.carried_in_native, symbol)
    yield ("total", "carried_out", "", "", statement.carried_out_native, symbol)
    yield ("total", "net", "", "", payout.net_amount_native, symbol)
    value = statement.value_usd
    yield ("total", "value_usd", "" if value is not None else "no price fixed", "", value, "USD")
    for day, price in statement.prices:
        yield ("price", day.isoformat(), f"{symbol} in USD", "", price, "USD")


def statement_csv(statement: Statement) -> str:
    """The statement as CSV (exact amounts; text cells safe for spreadsheets)."""
    return write_csv(CSV_HEADER, _csv_rows(statement))


def _font_path(name: str) -> str:
    return os.path.join(current_app.static_folder, "fonts", name)


def statement_pdf(statement: Statement) -> bytes:
    """The statement as a PDF whose text can be searched and copied."""
    from fpdf import FPDF

    payout, symbol = statement.payout, statement.token_symbol
    pdf = FPDF(format="A4")
    pdf.set_title(f"Statement {payout.statement_number}")
    pdf.set_creator("Partner commissions")
    pdf.add_font("DejaVu", "", _font_path("DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", _font_path("DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 15)
    pdf.cell(0, 9, f"Statement {payout.statement_number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for label, value in (
        ("Partner", payout.partner.name),
        ("Token", symbol),
        ("Paid on", payout.paid_on.isoformat()),
        ("Payout reference", payout.payout_reference),
    ):
        pdf.cell(0, 6, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")

    def table(title, header, rows, widths):
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8)
        align = ("LEFT",) * (len(header) - 1) + ("RIGHT",)  # amounts last, right-aligned
        with pdf.table(col_widths=widths, text_align=align, line_height=5) as t:
            head = t.row()
            for cell in header:
                head.cell(cell)
            for values in rows:
                row = t.row()
                for cell in values:
                    row.cell(cell)

    table(
        "Runs settled",
        ("Run", "Agreement", "Range", "Periods", f"Net ({symbol})"),
        [
            (
                str(r.run_id)[:8],
                r.agreement.name,
                f"{r.date_from.isoformat()} to {r.date_to.isoformat()}",
                " ".join(statement.periods.get(r.run_id, [])),
                exact_text(statement.nets[r.run_id]),
            )
            for r in statement.runs
        ],
        (12, 28, 30, 26, 44),
    )
    table(
        "Commission per agreement and component",
        ("Agreement", "Component", "Lines", f"Commission ({symbol})"),
        [
            (
                c.agreement,
                c.revenue_component,
                str(c.line_count),
                exact_text(c.commission_amount_native),
            )
            for c in statement.components
        ],
        (40, 22, 12, 46),
    )
    if statement.adjustments:
        table(
            "Adjustments (true-ups) and clawbacks",
            ("Kind", "Period", "Agreement", "Component / wallet", "Corrects", f"Amount ({symbol})"),
            [
                (
                    a.kind,
                    a.period,
                    a.agreement,
                    f"{a.revenue_component} {a.wallet_address or ''}".strip(),
                    f"run {str(a.corrects_run_id)[:8]}"
                    + (f", statement {a.corrects_statement}" if a.corrects_statement else ""),
                    exact_text(a.commission_amount_native),
                )
                for a in statement.adjustments
            ],
            (14, 14, 22, 48, 36, 46),
        )
    table(
        "Totals",
        ("", f"Amount ({symbol})"),
        [
            ("Commission", exact_text(statement.commission_native)),
            ("Adjustments", exact_text(statement.adjustment_native)),
            ("Carried in from earlier payouts", exact_text(payout.carried_in_native)),
            ("Carried out to the next payout", exact_text(statement.carried_out_native)),
            ("Net paid", exact_text(payout.net_amount_native)),
        ],
        (60, 40),
    )
    value = statement.value_usd
    table(
        "Value in USD (at the prices fixed when the runs were approved)",
        ("", "USD"),
        [("Net paid", exact_text(value) if value is not None else "no price fixed")]
        + [
            (f"{symbol} price of {day.isoformat()}", exact_text(price))
            for day, price in statement.prices
        ],
        (60, 40),
    )
    return bytes(pdf.output())
