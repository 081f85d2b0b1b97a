"""Bulk actions on a partner's wallet list: deactivate, reactivate or export the chosen
wallets (or all on the page), all or none, audit-logged per wallet, for managers only."""

import csv
import io
import json
import re

import pytest
from sqlalchemy import event, select

from tests import factories
from tests.worlds import solana_address
from webapp.extensions import db
from webapp.models import AuditLog, PartnerWallet
from webapp.wallets.service import BulkError, add_wallet, set_wallets_active


@pytest.fixture
def world(app):
    factories.chains("solana")
    acme, beta = factories.partner("Acme Wallet"), factories.partner("Beta Exchange")
    wallets = [add_wallet(acme, "solana", solana_address(), "2024-01-01") for _ in range(4)]
    stranger = add_wallet(beta, "solana", solana_address(), "2024-01-01")
    return acme, wallets, stranger


def bulk(client, partner, **form):
    return client.post(f"/partners/{partner.partner_id}/wallets/bulk", data=form)


def states() -> dict:
    db.session.expire_all()
    rows = db.session.execute(select(PartnerWallet.wallet_id, PartnerWallet.is_active)).all()
    return {wallet_id: active for wallet_id, active in rows}


def audit_entries() -> list[tuple]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(AuditLog).where(AuditLog.action.in_(["deactivate", "reactivate"]))
    ).all()
    return sorted(
        (e.action, e.entity_id, json.loads(e.before)["is_active"], json.loads(e.after)["is_active"])
        for e in rows
    )


def test_deactivate_then_reactivate_the_chosen_wallets(world, manager_client):
    acme, wallets, stranger = world
    chosen = [str(w.wallet_id) for w in wallets[:2]]
    response = bulk(
        manager_client, acme, action="deactivate", wallet=chosen, list_q="x", list_partner_id="y"
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/partners/{acme.partner_id}?q=x")
    now = states()
    assert [now[w.wallet_id] for w in wallets] == [False, False, True, True]
    assert now[stranger.wallet_id] is True
    assert audit_entries() == sorted(("deactivate", c, True, False) for c in chosen)
    done = select(AuditLog).where(AuditLog.action == "deactivate")
    assert all(e.user_id is not None for e in db.session.scalars(done))

    # Reactivate three, one of which was never off: two change, two audit entries more.
    again = [str(w.wallet_id) for w in wallets[:3]]
    response = bulk(manager_client, acme, action="reactivate", wallet=again)
    page = manager_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 wallet(s) reactivated. 1 already were." in page
    assert all(states()[w.wallet_id] for w in wallets)
    assert audit_entries() == sorted(
        [("deactivate", c, True, False) for c in chosen]
        + [("reactivate", c, False, True) for c in chosen]
    )


def test_all_on_this_page(world, manager_client):
    acme, wallets, _ = world
    page_ids = [str(w.wallet_id) for w in wallets[1:]]
    bulk(
        manager_client,
        acme,
        action="deactivate",
        all_on_page="1",
        page_wallet=page_ids,
        wallet=[str(wallets[0].wallet_id)],  # ticked, but "all on this page" wins
    )
    now = states()
    assert [now[w.wallet_id] for w in wallets] == [True, False, False, False]
    assert len(audit_entries()) == 3


def test_all_or_nothing(world, manager_client):
    acme, wallets, stranger = world
    chosen = [str(wallets[0].wallet_id), str(stranger.wallet_id)]
    response = bulk(manager_client, acme, action="deactivate", wallet=chosen)
    page = manager_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nothing changed: 1 of the chosen wallets are not Acme Wallet&#39;s." in page
    assert all(states().values()) and audit_entries() == []
    response = bulk(manager_client, acme, action="deactivate", wallet=["not-an-id"])
    assert all(states().values()) and audit_entries() == []
    response = bulk(manager_client, acme, action="deactivate")
    page = manager_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "choose at least one wallet" in page
    assert bulk(manager_client, acme, action="delete", wallet=chosen[:1]).status_code == 400
    assert all(states().values())


def test_one_query_for_the_set(world, app):
    acme, wallets, _ = world
    more = [add_wallet(acme, "solana", solana_address(), "2024-01-01") for _ in range(6)]
    ids = [w.wallet_id for w in wallets + more]
    name = acme.name  # loaded before counting
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        set_wallets_active(acme, ids, False)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # One read of the set, one UPDATE, the audit rows inserted together.
    assert statements.count("SELECT") == 1
    assert statements.count("UPDATE") == 1
    assert statements.count("INSERT") <= 1
    assert len(audit_entries()) == 10 and name
    with pytest.raises(BulkError):
        set_wallets_active(acme, [], True)


def test_export_the_selection(world, manager_client):
    acme, wallets, _ = world
    acme_chosen = sorted(wallets[1:3], key=lambda w: (w.wallet_address, str(w.wallet_id)))
    add = add_wallet(acme, "solana", solana_address(), "2024-02-02", "=HYPERLINK(1)")
    acme_chosen = sorted(acme_chosen + [add], key=lambda w: w.wallet_address)
    response = bulk(
        manager_client, acme, action="export", wallet=[str(w.wallet_id) for w in acme_chosen]
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "selection.csv" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:])))
    assert rows == [["wallet_address", "chain_id", "introduced_date", "is_active", "notes"]] + [
        [
            w.wallet_address,
            "solana",
            w.introduced_date.isoformat(),
            "true",
            "'=HYPERLINK(1)" if w is add else "",
        ]
        for w in acme_chosen
    ]
    assert audit_entries() == [] and all(states().values())


def test_viewers_get_403_and_nothing_changes(world, viewer_client, client):
    acme, wallets, _ = world
    chosen = [str(w.wallet_id) for w in wallets]
    for action in ("deactivate", "reactivate", "export"):
        assert bulk(viewer_client, acme, action=action, wallet=chosen).status_code == 403
    assert all(states().values()) and audit_entries() == []
    # The viewer's list has no checkboxes; a manager's has one per row and the bulk form.
    page = viewer_client.get(f"/partners/{acme.partner_id}").get_data(as_text=True)
    assert 'form="wallet-bulk"' not in page and 'id="wallet-bulk"' not in page


def test_without_the_csrf_token_nothing_changes(world, app, make_user, login):
    acme, wallets, _ = world
    manager = login(app.test_client(), make_user("manager"))
    page = manager.get(f"/partners/{acme.partner_id}").get_data(as_text=True)
    assert len(re.findall(r'form="wallet-bulk" name="wallet"', page)) == 4
    assert 'name="all_on_page"' in page
    del manager.environ_base["HTTP_X_CSRFTOKEN"]
    response = bulk(manager, acme, action="deactivate", wallet=[str(wallets[0].wallet_id)])
    assert response.status_code == 400
    assert all(states().values()) and audit_entries() == []
