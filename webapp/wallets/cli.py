"""`flask wallets import PARTNER FILE [--chain C]` and `flask wallets export PARTNER [-o FILE]`."""

import os

import click

from webapp.partners.service import find_partner_by_name
from webapp.wallets import bp
from webapp.wallets.service import WalletFilters, export_rows
from webapp.wallets.upload import UploadError, UploadRejected, WalletConflict, commit_file

wallets_cli = bp.cli
wallets_cli.help = "Import and export partner wallets."


def _partner(name):
    partner = find_partner_by_name(name)
    if partner is None:
        raise click.ClickException(f"no partner named {name!r}")
    return partner


@wallets_cli.command("import")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--chain", "chain_id", default="", help="Chain of rows without a chain_id.")
def import_command(partner_name, file, chain_id):
    """Add a partner's wallets from a CSV file: all rows or none."""
    partner = _partner(partner_name)
    with open(file, "rb") as source:
        data = source.read()
    try:
        result = commit_file(partner, data, os.path.basename(file), chain_id)
    except UploadRejected as exc:
        for row in exc.check.problems:
            click.echo(f"line {row.line}, column {row.column}: {row.reason}", err=True)
        raise click.ClickException(
            f"{len(exc.check.problems)} row(s) refused; nothing was stored"
        ) from None
    except (UploadError, WalletConflict) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{partner.name}: {result.added} wallet(s) added, {result.unchanged} unchanged")


@wallets_cli.command("export")
@click.argument("partner_name", metavar="PARTNER")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="File to write (standard output when left out).",
)
def export_command(partner_name, output):
    """Write a partner's wallets as CSV."""
    partner = _partner(partner_name)
    chunks = export_rows(partner, WalletFilters())
    if output is None:
        for chunk in chunks:
            click.echo(chunk, nl=False)
        return
    with open(output, "w", encoding="utf-8", newline="") as out:
        out.writelines(chunks)
    click.echo(f"wrote {output}", err=True)
