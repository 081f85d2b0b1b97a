"""`flask chains add CHAIN_ID --name N --symbol S --decimals D --address-format F`."""

import click

from webapp.chains import bp
from webapp.chains.service import add_chain
from webapp.errors import FieldError

chains_cli = bp.cli
chains_cli.help = "Manage chains."


@chains_cli.command("add")
@click.argument("chain_id")
@click.option("--name", required=True)
@click.option("--symbol", "token_symbol", required=True)
@click.option("--decimals", "display_decimals", type=int, required=True)
@click.option("--address-format", required=True, help="base58-32, evm or bech32:<prefix>")
def add_command(chain_id, name, token_symbol, display_decimals, address_format):
    """Add a chain."""
    try:
        chain = add_chain(chain_id, name, token_symbol, display_decimals, address_format)
    except FieldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added chain {chain.chain_id} ({chain.address_format})")
