"""`flask commissions compute|approve|reopen|pay|status|export` (DOMAIN.md, "Command line").

Every total printed is per token symbol: amounts of two chains are never added."""

import click

from webapp.commissions import bp, committing, export, lifecycle, results
from webapp.commissions.close_view import run_states
from webapp.commissions.export import EXPORT_HEADER
from webapp.commissions.lifecycle import CommissionError
from webapp.csvio import iter_csv
from webapp.money import format_amount
from webapp.partners.service import find_partner_by_name
from webapp.run_states import LOCKED_STATUSES

commissions_cli = bp.cli
commissions_cli.help = "Compute, close and export partner commissions."

_DATE = click.DateTime(["%Y-%m-%d"])


def _partner(name: str):
    partner = find_partner_by_name(name)
    if partner is None:
        raise click.ClickException(f"no partner named {name!r}")
    return partner


def _user(email):
    try:
        return lifecycle.find_user(email)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from None


def _describe(outcome) -> list[str]:
    """The printed totals of one agreement: per component, total, exclusions by reason."""
    agreement, result, symbol = outcome.agreement, outcome.result, outcome.token_symbol
    method = result.method.replace("_", " ")
    text = [
        f"agreement {agreement.name} ({agreement.chain_id}, {symbol}, {method}): "
        f"{len(result.periods)} period(s), {result.line_count} line(s)"
        + (f", run {outcome.run.run_id}" if outcome.run else "")
        + (
            f" (result carried over from run {outcome.carried_from}: no input changed, "
            "nothing computed or written)"
            if outcome.unchanged
            else ""
        )
    ]
    for total in result.component_totals():
        text.append(
            f"  {total.revenue_component:<10} lines {total.line_count:>8}  "
            f"base {format_amount(total.base_amount_native)} {symbol}  "
            f"commission {format_amount(total.commission_amount_native)} {symbol}"
        )
    text.append(
        f"  {'total':<10} lines {result.line_count:>8}  "
        f"base {format_amount(result.total_base_native)} {symbol}  "
        f"commission {format_amount(result.total_commission_native)} {symbol}"
    )
    for excluded in result.exclusion_totals():
        text.append(
            f"  excluded: {excluded.reason}: {excluded.count} held back "
            f"{format_amount(excluded.held_back_amount_native)} {symbol}"
        )
    for adjustment in outcome.adjustments:
        text.append(
            f"  adjustment of run {adjustment.corrects_run_id}: {adjustment.revenue_component} "
            f"{adjustment.validator_key} {adjustment.wallet_address or '-'} "
            f"{format_amount(adjustment.commission_amount_native)} {symbol}"
        )
    return text


def _token_lines(computation) -> list[str]:
    text = []
    for total in computation.token_totals():
        line = (
            f"total {total.token_symbol}: {total.line_count} line(s), "
            f"commission {format_amount(total.commission_amount_native)} {total.token_symbol}"
        )
        if total.adjustment_count:
            line += (
                f", adjustments {format_amount(total.adjustment_amount_native)} "
                f"{total.token_symbol} ({total.adjustment_count} line(s))"
            )
        text.append(line)
    return text


@commissions_cli.command("compute")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--from", "date_from", required=True, type=_DATE, help="YYYY-MM-DD")
@click.option("--to", "date_to", required=True, type=_DATE, help="YYYY-MM-DD, inclusive")
@click.option("--commit", "do_commit", is_flag=True, help="Store the lines (else a preview).")
@click.option(
    "--true-up", "true_up", is_flag=True, help="With --commit: carry locked periods' changes."
)
@click.option(
    "--as", "email", default=None, help="With --commit (required): e-mail of the committer."
)
def compute_command(partner_name, date_from, date_to, do_commit, true_up, email):
    """Compute every agreement of PARTNER that overlaps the range and print the totals."""
    partner = _partner(partner_name)
    if true_up and not do_commit:
        raise click.ClickException("--true-up needs --commit")
    if do_commit and not (email or "").strip():
        # Four eyes need a committer on record: the approver must be someone else.
        raise click.ClickException("a commit names a person: give --as EMAIL (nothing committed)")
    user = _user(email)
    low, high = date_from.date(), date_to.date()
    try:
        if do_commit:
            computation = committing.commit(partner, low, high, user=user, true_up=true_up)
        else:
            computation = results.preview(partner, low, high)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from None
    if not computation.outcomes:
        raise click.ClickException(
            f"{partner.name} has no agreement in effect between "
            f"{low.isoformat()} and {high.isoformat()}"
        )
    for outcome in computation.outcomes:
        click.echo("\n".join(_describe(outcome)))
    click.echo("\n".join(_token_lines(computation)))
    for warning in computation.warnings:
        click.echo(f"warning: {warning}")
    if computation.committed:
        click.echo(f"committed {len(computation.outcomes)} run(s)")
    else:
        click.echo("preview only: nothing stored (add --commit to store the lines)")


def _range_options(command):
    command = click.option("--to", "date_to", required=True, type=_DATE, help="YYYY-MM-DD")(command)
    command = click.option("--from", "date_from", required=True, type=_DATE, help="YYYY-MM-DD")(
        command
    )
    return click.argument("partner_name", metavar="PARTNER")(command)


def _acted(runs, verb: str) -> None:
    for run in runs:
        click.echo(
            f"{verb} run {run.run_id} ({run.agreement.name}, {run.date_from.isoformat()} to "
            f"{run.date_to.isoformat()})"
        )


@commissions_cli.command("approve")
@_range_options
@click.option("--as", "email", required=True, help="E-mail of the approving manager or admin.")
def approve_command(partner_name, date_from, date_to, email):
    """Approve PARTNER's committed runs within the range (not by the person who committed)."""
    partner, user = _partner(partner_name), _user(email)
    try:
        runs = lifecycle.approve_runs(partner, date_from.date(), date_to.date(), user)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from None
    _acted(runs, "approved")


@commissions_cli.command("reopen")
@_range_options
@click.option("--reason", required=True, help="Why the approval is withdrawn.")
@click.option("--as", "email", required=True, help="E-mail of the admin.")
def reopen_command(partner_name, date_from, date_to, reason, email):
    """Return PARTNER's approved, unpaid runs within the range to committed (unlocks them)."""
    partner, user = _partner(partner_name), _user(email)
    try:
        runs = lifecycle.reopen_runs(partner, date_from.date(), date_to.date(), user, reason)
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from None
    _acted(runs, "reopened")


@commissions_cli.command("pay")
@_range_options
@click.option("--reference", required=True, help="The payout reference.")
@click.option("--paid-on", "paid_on", type=_DATE, default=None, help="YYYY-MM-DD (today)")
@click.option("--as", "email", required=True, help="E-mail of the manager or admin.")
def pay_command(partner_name, date_from, date_to, reference, paid_on, email):
    """Mark PARTNER's approved runs within the range paid (final)."""
    partner, user = _partner(partner_name), _user(email)
    try:
        runs = lifecycle.pay_runs(
            partner,
            date_from.date(),
            date_to.date(),
            user,
            reference,
            paid_on.date() if paid_on else None,
        )
    except CommissionError as exc:
        raise click.ClickException(str(exc)) from None
    _acted(runs, "paid")


def _when(user, instant) -> str:
    who = user.email if user is not None else "the command line"
    return f"{who} at {instant.isoformat(timespec='seconds')}"


@commissions_cli.command("status")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--from", "date_from", type=_DATE, default=None, help="YYYY-MM-DD")
@click.option("--to", "date_to", type=_DATE, default=None, help="YYYY-MM-DD")
def status_command(partner_name, date_from, date_to):
    """Print each run of PARTNER (within the range): range, status, who and when, totals."""
    partner = _partner(partner_name)
    if (date_from is None) != (date_to is None):
        raise click.ClickException("give both --from and --to, or neither")
    low = date_from.date() if date_from else None
    high = date_to.date() if date_to else None
    if low is not None and high < low:
        raise click.ClickException(f"--to {high.isoformat()} is before --from {low.isoformat()}")
    runs = lifecycle.runs_within(partner, low, high)
    if not runs:
        click.echo(f"{partner.name} has no run" + (" in that range" if low else ""))
        return
    states = run_states(runs)
    totals, stale, late = states.totals, states.stale, states.late
    for run in runs:
        symbol = run.agreement.chain.token_symbol
        click.echo(
            f"run {run.run_id} {run.agreement.name} {run.date_from.isoformat()} to "
            f"{run.date_to.isoformat()}: {run.status}"
        )
        click.echo(f"  committed by {_when(run.created_by, run.created_at)}")
        if run.approved_at and run.status in LOCKED_STATUSES:
            click.echo(f"  approved by {_when(run.approved_by, run.approved_at)}")
        if run.reopened_at:
            click.echo(
                f"  reopened by {_when(run.reopened_by, run.reopened_at)}: {run.reopen_reason}"
            )
        if run.paid_at:
            click.echo(
                f"  paid on {run.paid_on.isoformat()}, reference {run.payout_reference}, "
                f"recorded by {_when(run.paid_by, run.paid_at)}"
            )
        if run.superseded_at:
            click.echo(
                f"  superseded by run {run.superseded_by_run_id} at "
                f"{run.superseded_at.isoformat(timespec='seconds')}"
            )
        total = totals[run.run_id]
        line = (
            f"  {total.line_count} line(s), commission "
            f"{format_amount(total.commission_amount_native)} {symbol}"
        )
        if total.adjustment_count:
            line += (
                f", adjustments {format_amount(total.adjustment_amount_native)} {symbol} "
                f"({total.adjustment_count} line(s))"
            )
        if total.clawback_count:
            line += (
                f", of which clawback {format_amount(total.clawback_amount_native)} {symbol} "
                f"({total.clawback_count} line(s))"
            )
        line += (
            f"; total {format_amount(total.total_native)} {symbol} "
            f"over {total.total_line_count} line(s)"
        )
        click.echo(line)
        if (total.line_count, total.commission_amount_native) != (
            run.line_count,
            run.total_commission_native,
        ):
            click.echo(
                f"  as committed: {run.line_count} line(s), commission "
                f"{format_amount(run.total_commission_native)} {symbol} (a later commit "
                "took over some or all of its periods)"
            )
        for correction in total.corrections:
            click.echo(
                f"  adjusts run {correction.run_id} ({correction.status}, "
                f"{correction.date_from.isoformat()} to {correction.date_to.isoformat()}"
                + (f", payout {correction.payout_reference}" if correction.payout_reference else "")
                + f"): {format_amount(correction.adjustment_amount_native)} {symbol}"
            )
        if run.run_id in stale:
            click.echo("  out of date: commit again (" + "; ".join(stale[run.run_id]) + ")")
        if run.run_id in late:
            for text in late[run.run_id].describe():
                click.echo(f"  late data: {text}")


@commissions_cli.command("export")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--from", "date_from", required=True, type=_DATE, help="YYYY-MM-DD")
@click.option("--to", "date_to", required=True, type=_DATE, help="YYYY-MM-DD, inclusive")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None)
def export_command(partner_name, date_from, date_to, output):
    """Write the lines of PARTNER's periods in the range, and the adjustments carried by its
    runs within the range, as CSV."""
    partner = _partner(partner_name)
    try:
        rows = export.export_rows(partner, date_from.date(), date_to.date())
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
