"""`flask tokens create EMAIL --name NAME [--scope read|write]` and `flask tokens revoke`."""

import click

from webapp.api.pages import bp
from webapp.api.tokens import TokenError, create_token, find_user, revoke_token_named

tokens_cli = bp.cli
tokens_cli.help = "Create and revoke API tokens."


def _user(email):
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"no user {email!r}")
    return user


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True)
def create_command(email, name, scope):
    """Create a token; it is printed alone on the last line, and never shown again."""
    user = _user(email)
    try:
        created = create_token(user, name, scope)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {scope} token {created.token.name!r} for {user.email}; keep it now:")
    click.echo(created.secret)


@tokens_cli.command("revoke")
@click.argument("email")
@click.option("--name", required=True, help="Name of the token to revoke.")
def revoke_command(email, name):
    """Revoke a user's token by name."""
    user = _user(email)
    try:
        token = revoke_token_named(user, name)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked token {token.name!r} of {user.email}")
