"""`flask import KIND FILE --provider NAME`: periods, validator-revenue, staker-rewards,
stake-events or prices."""

import click

from webapp.imports import bp
from webapp.imports.checks import SPECS
from webapp.imports.importing import import_file

import_cli = bp.cli
import_cli.help = (
    "Import canonical data (periods, validator revenue, staker rewards, stake events, "
    "prices) "
    "from CSV, with lineage. All rows of a file are stored, or none."
)

_HELP = {
    "periods": "Import periods (chain_id, label, start_time, end_time); [start, end) in UTC.",
    "validator-revenue": "Import validator revenue "
    "(chain_id, period, validator_key, revenue_component, amount_native).",
    "staker-rewards": "Import staker rewards (chain_id, period, validator_key, staker_address, "
    "revenue_component, reward_amount_native).",
    "stake-events": "Import stake events (chain_id, validator_key, staker_address, event_type, "
    "stake_amount_native, event_timestamp); each goes to the period containing its timestamp.",
    "prices": "Import token prices in USD (chain_id, date, price_usd), one per chain and UTC "
    "day; --replace deletes the stored prices of the file's days first.",
}

_REPLACE_HELP = (
    "Correction: first delete the stored rows of this kind in every period the file covers "
    "(audit-logged per period), then import. Without it, a row whose key is already stored "
    "is an error naming the payload that holds it."
)


def _make_command(kind: str):
    params = [
        click.Argument(["file"], type=click.Path(exists=True, dir_okay=False, readable=True)),
        click.Option(
            ["--provider", "provider"],
            required=True,
            help="Source of the data, e.g. jito; created on first use.",
        ),
        click.Option(["--dry-run"], is_flag=True, help="Check the file and store nothing."),
    ]
    if kind != "periods":
        params.append(click.Option(["--replace"], is_flag=True, help=_REPLACE_HELP))

    def command(file, provider, dry_run, replace=False):
        report = import_file(kind, file, provider, replace=replace, dry_run=dry_run)
        if report.ok:
            click.echo(report.headline())
            return
        click.echo(f"Error: {report.headline()}", err=True)
        for error in report.errors.errors:
            click.echo(f"  {error}", err=True)
        if report.errors.more:
            click.echo(f"  ... and {report.errors.more} more errors", err=True)
        raise click.exceptions.Exit(1)

    return click.Command(kind, callback=command, params=params, help=_HELP[kind])


for _kind in SPECS:
    import_cli.add_command(_make_command(_kind))
