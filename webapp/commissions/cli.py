"""`flask commissions compute PARTNER --from DATE --to DATE [--commit]` and
`flask commissions export PARTNER --from DATE --to DATE [-o FILE]`."""

import click

from webapp.commissions import bp, service
from webapp.commissions.service import EXPORT_HEADER, CommissionError
from webapp.csvio import iter_csv
from webapp.money import format_amount
from webapp.partners.service import find_partner_by_name

commissions_cli = bp.cli
commissions_cli.help = "Compute and export partner commissions."

_DATE = click.DateTime(["%Y-%m-%d"])


def _partner(name: str):
    partner = find_partner_by_name(name)
    if partner is None:
        raise click.ClickException(f"no partner named {name!r}")
    return partner


def _describe(outcome) -> list[str]:
    """The printed totals of one agreement: per component, total, exclusions by reason."""
    agreement, result = outcome.agreement, outcome.result
    method = result.method.replace("_", " ")
    text = [
        f"agreement {agreement.name} ({agreement.chain_id}, {method}): "
        f"{len(result.periods)} period(s), {len(result.lines)} line(s)"
        + (f", run {outcome.run.run_id}" if outcome.run else "")
    ]
    for total in result.component_totals():
        text.append(
            f"  {total.revenue_component:<10} lines {total.line_count:>8}  "
            f"base {format_amount(total.base_amount_native)}  "
            f"commission {format_amount(total.commission_amount_native)}"
        )
    text.append(
        f"  {'total':<10} lines {len(result.lines):>8}  "
        f"base {format_amount(result.total_base_native)}  "
        f"commission {format_amount(result.total_commission_native)}"
    )
    for excluded in result.exclusion_totals():
        text.append(
            f"  excluded: {excluded.reason}: {excluded.count} held back "
            f"{format_amount(excluded.held_back_amount_native)}"
        )
    return text


@commissions_cli.command("compute")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--from", "date_from", required=True, type=_DATE, help="YYYY-MM-DD")
@click.option("--to", "date_to", required=True, type=_DATE, help="YYYY-MM-DD, inclusive")
@click.option("--commit", "do_commit", is_flag=True, help="Store the lines (else a preview).")
def compute_command(partner_name, date_from, date_to, do_commit):
    """Compute every agreement of PARTNER that overlaps the range and print the totals."""
    partner = _partner(partner_name)
    try:
        run = service.commit if do_commit else service.preview
        computation = run(partner, date_from.date(), date_to.date())
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from None
    if not computation.outcomes:
        raise click.ClickException(
            f"{partner.name} has no agreement in effect between "
            f"{date_from.date().isoformat()} and {date_to.date().isoformat()}"
        )
    for outcome in computation.outcomes:
        click.echo("\n".join(_describe(outcome)))
    if computation.committed:
        click.echo(f"committed {len(computation.outcomes)} run(s)")
    else:
        click.echo("preview only: nothing stored (add --commit to store the lines)")


@commissions_cli.command("export")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--from", "date_from", required=True, type=_DATE, help="YYYY-MM-DD")
@click.option("--to", "date_to", required=True, type=_DATE, help="YYYY-MM-DD, inclusive")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None)
def export_command(partner_name, date_from, date_to, output):
    """Write the committed lines of PARTNER's periods in the range as CSV."""
    partner = _partner(partner_name)
    try:
        rows = service.export_rows(partner, date_from.date(), date_to.date())
        if output is None:
            for text in iter_csv(EXPORT_HEADER, rows):
                click.echo(text, nl=False)
            return
        count = 0

        def counted():
            nonlocal count
            for row in rows:
                count += 1
                yield row

        with open(output, "w", encoding="utf-8", newline="") as stream:
            for text in iter_csv(EXPORT_HEADER, counted()):
                stream.write(text)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {count} line(s) to {output}")
