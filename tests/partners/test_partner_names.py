"""Partner names are unique whatever their letter case, in the database itself: a duplicate
gets one clear message from the page and the command line, even when two requests race."""

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.conftest import csrf_token_from
from webapp.errors import FieldError
from webapp.extensions import db
from webapp.models import Partner
from webapp.partners import service
from webapp.partners.service import create_partner, update_partner


def partner_names() -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(select(Partner.name)))


def post_new(client, name):
    token = csrf_token_from(client.get("/partners/new").get_data(as_text=True))
    return client.post("/partners/new", data={"name": name, "csrf_token": token})


def test_a_name_in_another_case_is_refused_on_the_page(manager_client):
    assert post_new(manager_client, "Acme").status_code == 302
    response = post_new(manager_client, "acme")
    assert response.status_code == 400
    assert "A partner named &#39;Acme&#39; exists already." in response.get_data(as_text=True)
    assert partner_names() == ["Acme"]


def test_a_name_in_another_case_is_refused_on_the_command_line(app, runner):
    assert runner.invoke(args=["partners", "create", "Acme"]).exit_code == 0
    result = runner.invoke(args=["partners", "create", "ACME"])
    assert result.exit_code == 1
    assert "A partner named 'Acme' exists already." in result.output
    assert partner_names() == ["Acme"]


def test_case_folding_covers_more_than_ascii(app):
    create_partner("Straße Wallet")
    with pytest.raises(FieldError, match="exists already"):
        create_partner("STRASSE WALLET")
    assert partner_names() == ["Straße Wallet"]


def test_the_database_refuses_a_case_variant_that_skips_the_check(app):
    create_partner("Acme")
    db.session.add(Partner(name="aCME"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert partner_names() == ["Acme"]


def test_a_name_taken_between_check_and_insert_gives_the_clear_message(app, monkeypatch):
    create_partner("Acme")
    # The check sees no partner (as when another request stores it a moment later).
    monkeypatch.setattr(service, "find_partner_by_name", lambda name: None)
    with pytest.raises(FieldError, match="exists already"):
        create_partner("ACME")
    beta = create_partner("Beta")
    with pytest.raises(FieldError, match="exists already"):
        update_partner(beta, "acme", None)
    monkeypatch.undo()
    assert partner_names() == ["Acme", "Beta"]


@pytest.mark.postgres_only
def test_two_people_creating_one_name_at_once_get_one_partner(app, make_user, login, monkeypatch):
    clients = [login(app.test_client(), make_user("manager")) for _ in range(2)]
    tokens = [
        csrf_token_from(client.get("/partners/new").get_data(as_text=True)) for client in clients
    ]
    both_checked = threading.Barrier(2, timeout=20)
    original_check = service._check_name

    def check_then_wait(*args, **kwargs):
        # Both requests have seen the name free before either inserts.
        name = original_check(*args, **kwargs)
        both_checked.wait()
        return name

    monkeypatch.setattr(service, "_check_name", check_then_wait)

    for round_number in range(20):
        names = [f"Race {round_number}", f"RACE {round_number}"]
        responses = [None, None]

        def create(index, names=names, responses=responses):
            with app.app_context():
                responses[index] = clients[index].post(
                    "/partners/new", data={"name": names[index], "csrf_token": tokens[index]}
                )
                db.session.remove()

        threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [302, 400], [r.get_data(as_text=True)[:500] for r in responses]
        winner = next(i for i, r in enumerate(responses) if r.status_code == 302)
        loser_page = responses[1 - winner].get_data(as_text=True)
        assert f"A partner named &#39;{names[winner]}&#39; exists already." in loser_page
        db.session.expire_all()
        stored = db.session.scalars(
            select(Partner.name).where(func.lower(Partner.name) == f"race {round_number}")
        ).all()
        assert stored == [names[winner]]
