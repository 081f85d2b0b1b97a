"""`flask payouts list|pay|statement` and `flask partners set-minimum` (DOMAIN.md).

Amounts print exact, each with its token; amounts of two tokens are never added."""

import click

from webapp.commissions.lifecycle import CommissionError, find_user
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.money import exact_text
from webapp.partners import bp as partners_bp
from webapp.partners.service import find_partner_by_name
from webapp.payouts import bp, service, statements

payouts_cli = bp.cli
payouts_cli.help = "List what partners are owed, pay it, and write statements."

_DATE = click.DateTime(["%Y-%m-%d"])


def _partner(name: str):
    partner = find_partner_by_name(name)
    if partner is None:
        raise click.ClickException(f"no partner named {name!r}")
    return partner


def _chain(symbol: str):
    try:
        return service.chain_of_symbol(symbol)
    except FieldError as exc:
        raise click.ClickException(str(exc)) from None


@payouts_cli.command("list")
@click.option("--partner", "partner_name", default=None, help="Only this partner.")
@click.option(
    "--status", type=click.Choice(service.STATUSES), default=None, help="payable|carried|paid"
)
def list_command(partner_name, status):
    """Per partner and token: what is payable or carried (and why), and payouts made."""
    partner_id = _partner(partner_name).partner_id if partner_name else None
    if status in (None, service.PAYABLE, service.CARRIED):
        for p in service.payables(partner_id):
            if status and p.status != status:
                continue
            why = f" ({p.carried_reason})" if p.carried_reason else ""
            click.echo(
                f"{p.status}\t{p.partner.name}\t{p.token_symbol}\t"
                f"{exact_text(p.net_amount_native)} {p.token_symbol}\t{len(p.runs)} run(s){why}"
            )
    if status in (None, service.PAID):
        for payout in service.payouts_made(partner_id):
            click.echo(
                f"paid\t{payout.partner.name}\t{payout.chain.token_symbol}\t"
                f"{exact_text(payout.net_amount_native)} {payout.chain.token_symbol}\t"
                f"statement {payout.statement_number}\t{payout.payout_reference}\t"
                f"{payout.paid_on.isoformat()}"
            )


@payouts_cli.command("pay")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--token", "symbol", required=True, help="Token symbol, e.g. SOL.")
@click.option("--reference", required=True, help="The payout reference.")
@click.option("--paid-on", "paid_on", type=_DATE, default=None, help="YYYY-MM-DD (today)")
@click.option("--as", "email", required=True, help="E-mail of the manager or admin.")
def pay_command(partner_name, symbol, reference, paid_on, email):
    """Pay all of PARTNER's payable runs of one token: one payout, final."""
    partner, chain = _partner(partner_name), _chain(symbol)
    try:
        user = find_user(email)
        payout = service.pay(
            partner, chain.chain_id, user, reference, paid_on.date() if paid_on else None
        )
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"paid {exact_text(payout.net_amount_native)} {chain.token_symbol} to {partner.name}: "
        f"statement {payout.statement_number}"
    )


@payouts_cli.command("statement")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--number", required=True, help="The statement number (or its n).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True))
def statement_command(partner_name, number, output):
    """Write a payout's statement as PDF or CSV (by the file's extension)."""
    partner = _partner(partner_name)
    payout = service.payout_by_number(partner, number)
    if payout is None:
        raise click.ClickException(f"{partner.name} has no statement {number!r}")
    statement = statements.statement_of(payout)
    if output.lower().endswith(".pdf"):
        with open(output, "wb") as handle:
            handle.write(statements.statement_pdf(statement))
    elif output.lower().endswith(".csv"):
        with open(output, "w", encoding="utf-8", newline="") as handle:
            handle.write(statements.statement_csv(statement))
    else:
        raise click.ClickException("the output file must end in .pdf or .csv")
    click.echo(f"wrote statement {payout.statement_number} to {output}")


@partners_bp.cli.command("set-minimum")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--token", "symbol", required=True, help="Token symbol, e.g. SOL.")
@click.option("--amount", required=True, help="The least net paid out (0: any).")
def set_minimum_command(partner_name, symbol, amount):
    """Set PARTNER's minimum payout in one token; a smaller net is carried."""
    partner, chain = _partner(partner_name), _chain(symbol)
    try:
        value = service.set_minimum(partner, chain.chain_id, amount)
    except FieldError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"minimum payout of {partner.name}: {exact_text(value)} {chain.token_symbol}")
