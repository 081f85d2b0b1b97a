"""Chains admin page: list and add."""

from webapp.chains import bp, service
from webapp.chains.forms import ChainForm
from webapp.errors import FieldError
from webapp.vocab import Role
from webapp.web import flash_and_redirect, render, role_required


@bp.route("/", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def list_chains():
    """Every chain, and a form to add one."""
    form = ChainForm()
    if form.validate_on_submit():
        try:
            chain = service.add_chain(
                form.chain_id.data,
                form.name.data,
                form.token_symbol.data,
                form.display_decimals.data,
                form.address_format.data,
            )
        except FieldError as exc:
            form[exc.field or "chain_id"].errors.append(str(exc))
        else:
            return flash_and_redirect(f"Chain {chain.chain_id} added.", "chains.list_chains")
    return render(
        "chains/list.html",
        chains=service.list_chains(),
        form=form,
        status=400 if form.errors else 200,
    )
