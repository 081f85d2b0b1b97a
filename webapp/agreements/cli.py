"""`flask agreements create PARTNER --chain C --name N --from DATE [--to DATE]
[--wallet-attribution] --rate COMPONENT=BPS[@VALIDATOR] ...`."""

import click

from webapp.agreements import bp
from webapp.agreements.service import create_agreement, parse_rate_spec
from webapp.errors import FieldError
from webapp.partners.service import find_partner_by_name

agreements_cli = bp.cli
agreements_cli.help = "Manage commission agreements."


@agreements_cli.command("create")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--chain", "chain_id", required=True, help="Chain id, e.g. solana.")
@click.option("--name", required=True, help="Name of the agreement.")
@click.option(
    "--from", "effective_from", required=True, type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD"
)
@click.option(
    "--to",
    "effective_to",
    default=None,
    type=click.DateTime(["%Y-%m-%d"]),
    help="YYYY-MM-DD, inclusive; omit for open-ended.",
)
@click.option(
    "--wallet-attribution",
    is_flag=True,
    help="Pay on the rewards of the partner's wallets instead of total validator revenue.",
)
@click.option(
    "--rate",
    "rates",
    multiple=True,
    required=True,
    metavar="COMPONENT=BPS[@VALIDATOR]",
    help="A rate in basis points, e.g. MEV=500 or REWARDS=250@VALIDATOR; repeat for more.",
)
def create_command(
    partner_name, chain_id, name, effective_from, effective_to, wallet_attribution, rates
):
    """Create an agreement with its commission rates."""
    partner = find_partner_by_name(partner_name)
    if partner is None:
        raise click.ClickException(f"no partner named {partner_name!r}")
    try:
        rules = [parse_rate_spec(spec) for spec in rates]
        agreement = create_agreement(
            partner,
            chain_id,
            name,
            effective_from.date(),
            effective_to.date() if effective_to else None,
            wallet_attribution,
            rules,
        )
    except FieldError as exc:
        raise click.ClickException(str(exc)) from None
    method = "wallet attribution" if agreement.wallet_attribution_enabled else "total revenue"
    click.echo(
        f"created agreement {agreement.name} ({agreement.agreement_id}) for {partner.name} "
        f"on {agreement.chain_id}, {method}, {len(rules)} rate(s)"
    )
