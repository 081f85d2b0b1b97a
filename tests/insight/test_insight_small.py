"""Small things a manager trips over: the wallet form's introduced date is chosen, not
defaulted; messages name fields as the screens do; a favicon; thousands separators."""

import re

from sqlalchemy import func, select

from tests.wallets.test_wallets import partner_url, world  # noqa: F401 - fixture
from tests.worlds import solana_address
from webapp.extensions import db
from webapp.labels import labelled
from webapp.models import PartnerWallet

HX = {"HX-Request": "true"}


def test_the_introduced_date_has_no_default_and_says_what_a_late_date_does(
    world,  # noqa: F811
    manager_client,
):
    page = manager_client.get(partner_url(world.acme)).get_data(as_text=True)
    field = re.search(r'<input[^>]*name="introduced_date"[^>]*>', page).group(0)
    assert 'value="' not in field or 'value=""' in field
    assert "earns nothing in any period that starts before this day" in page
    refused = manager_client.post(
        partner_url(world.acme, "/wallets"),
        data={"chain_id": "solana", "wallet_address": solana_address(), "introduced_date": ""},
        headers=HX,
    )
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert "Introduced is empty: give the day the partner introduced it" in body
    assert "introduced_date" not in re.sub(r'[\w:-]+="[^"]*"', "", body)
    assert db.session.scalar(select(func.count()).select_from(PartnerWallet)) == 0


def test_messages_use_the_labels_of_the_screens():
    assert labelled("effective_to 2025-01-01 is before effective_from 2025-02-01") == (
        "Effective to 2025-01-01 is before Effective from 2025-02-01"
    )
    # Only whole names: an address or a word that merely contains one stays as it is.
    assert labelled("my_chain_id_x and chain_id") == "my_chain_id_x and Chain"


def test_favicon_is_served_and_linked(client, manager_client):
    assert client.get("/static/favicon.svg").status_code == 200
    page = manager_client.get("/").get_data(as_text=True)
    assert 'rel="icon"' in page and "favicon.svg" in page


def test_counts_have_thousands_separators(app):
    from flask import render_template_string

    assert render_template_string("{{ 10024|thousands }} {{ 7|thousands }}") == "10,024 7"
