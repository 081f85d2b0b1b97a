"""`flask partners create NAME`."""

import click

from webapp.errors import FieldError
from webapp.partners import bp
from webapp.partners.service import create_partner

partners_cli = bp.cli
partners_cli.help = "Manage partners."


@partners_cli.command("create")
@click.argument("name")
@click.option("--contact", default=None, help="Email or person to reach.")
def create_command(name, contact):
    """Create a partner."""
    try:
        partner = create_partner(name, contact)
    except FieldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created partner {partner.name} ({partner.partner_id})")
