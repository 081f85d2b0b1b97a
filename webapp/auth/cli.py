"""`flask users create EMAIL --role ROLE [--password P]`."""

import click

from webapp.auth import bp
from webapp.auth.service import UserError, create_user

users_cli = bp.cli
users_cli.help = "Manage the people who sign in."


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "manager", "viewer"]), required=True)
@click.option(
    "--password", help="Password to set; a random one is generated and printed if omitted."
)
def create_command(email, role, password):
    """Create a user who can sign in."""
    try:
        user, password_used = create_user(email, role, password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.email}")
    if not password:
        click.echo(f"password: {password_used}")
