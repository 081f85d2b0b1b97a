"""`flask users create EMAIL --role ROLE [--password P]`."""

import click

from webapp.auth import bp
from webapp.auth.service import UserError, create_user, set_password

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


@users_cli.command("set-password")
@click.argument("email")
@click.option(
    "--password", help="The new password; a random one is generated and printed if omitted."
)
def set_password_command(email, password):
    """Give a user a new password; every session the user has open ends."""
    try:
        user, password_used = set_password(email, password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"new password set for {user.email}; its sessions are ended")
    if not password:
        click.echo(f"password: {password_used}")
