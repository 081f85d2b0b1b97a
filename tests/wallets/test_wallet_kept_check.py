"""A commit takes each row's own outcome (address, date, notes, duplicates) from the file's
preview while what the preview went by still holds (the chains' address formats, the day),
and asks the stored wallets again. Whatever changed in between, its outcome is the one a
full check of the bytes gives at that moment: every test compares the two."""

from dataclasses import astuple
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from tests.wallets.test_wallets import HX, partner_url, stored_addresses, token_of, upload
from tests.worlds import evm_address, solana_address, two_partners, wallet_csv
from webapp.extensions import db
from webapp.models import Chain, PartnerWallet
from webapp.wallets import checks
from webapp.wallets import upload as wallet_upload
from webapp.wallets.checks import today_utc
from webapp.wallets.service import add_wallet
from webapp.wallets.upload import (
    UploadRejected,
    check_file,
    commit_file,
    kept_check,
    load_upload,
    store_upload,
)

pytestmark = pytest.mark.usefixtures("uploads_in_tmp")


@pytest.fixture
def world(app):
    return two_partners()


def seen(check) -> list[tuple]:
    """Everything each row holds (outcome, reason, parsed date, claimant...), row by row."""
    return [astuple(row) for row in check.rows]


def kept(partner, data, chain_id=""):
    """The file previewed and kept, as the upload keeps it."""
    return store_upload(partner, data, "wallets.csv", chain_id, check_file(partner, data, chain_id))


def remove_wallet(address: str) -> None:
    db.session.execute(delete(PartnerWallet).where(PartnerWallet.wallet_address == address))
    db.session.commit()


#: The kinds of row a file may hold; each makes its row from the addresses of one example.
KINDS = (
    "new",
    "acme's",
    "beta's",
    "bad address",
    "evm lower case",
    "unknown chain",
    "bad date",
    "tomorrow",
    "long notes",
    "duplicate",
)
#: What may change between the preview and the commit.
CHANGES = ("beta claims a new one", "acme drops its own", "beta drops its own", "acme adds one")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=12),
    changes=st.lists(st.sampled_from(CHANGES), unique=True, max_size=len(CHANGES)),
)
def test_the_kept_check_is_a_full_check_of_the_bytes_now(world, kinds, changes):
    """Any file, any change to the stored wallets after its preview: the commit's check from
    the preview equals checking every row of the bytes again."""
    acme_own, beta_own = solana_address(), solana_address()
    add_wallet(world.acme, "solana", acme_own, "2024-01-01")
    add_wallet(world.beta, "solana", beta_own, "2024-01-01")
    tomorrow = (today_utc() + timedelta(days=1)).isoformat()
    news, rows = [], []
    for kind in kinds:
        if kind == "new":
            news.append(solana_address())
            rows.append((news[-1], "solana", "2024-02-01", ""))
        elif kind == "acme's":
            rows.append((acme_own, "solana", "2024-02-01", ""))
        elif kind == "beta's":
            rows.append((beta_own, "solana", "2024-02-01", ""))
        elif kind == "bad address":
            rows.append(("0OIl" + solana_address()[4:], "solana", "2024-02-01", ""))
        elif kind == "evm lower case":
            news.append(evm_address())
            rows.append(("0x" + news[-1][2:].lower(), "ethereum", "2024-02-01", ""))
        elif kind == "unknown chain":
            rows.append((solana_address(), "dogechain", "2024-02-01", ""))
        elif kind == "bad date":
            rows.append((solana_address(), "solana", "2024-13-01", ""))
        elif kind == "tomorrow":
            rows.append((solana_address(), "solana", tomorrow, ""))
        elif kind == "long notes":
            rows.append((solana_address(), "solana", "2024-02-01", "n" * 1001))
        else:
            rows.append(rows[-1] if rows else (acme_own, "solana", "2024-02-01", "again"))
    data = wallet_csv(rows)
    stored = load_upload(kept(world.acme, data).token, world.acme)

    def chain_of(address):
        return "ethereum" if address.startswith("0x") else "solana"

    for change in changes:
        if change == "beta claims a new one" and news:
            add_wallet(world.beta, chain_of(news[0]), news.pop(0), "2024-01-01")
        elif change == "acme drops its own":
            remove_wallet(acme_own)
        elif change == "beta drops its own":
            remove_wallet(beta_own)
        elif change == "acme adds one" and news:
            add_wallet(world.acme, chain_of(news[-1]), news.pop(), "2024-01-01")

    from_preview = kept_check(world.acme, stored)
    assert from_preview is not None
    assert seen(from_preview) == seen(check_file(world.acme, data))


def test_a_wallet_claimed_after_the_preview_refuses_the_commit(world):
    """Worked by hand: two new rows at the preview; Beta takes the second before the commit,
    which is refused for that row alone and stores nothing."""
    first, second = solana_address(), solana_address()
    data = wallet_csv([(first, "solana", "2024-02-01", ""), (second, "solana", "2024-02-01", "")])
    stored = load_upload(kept(world.acme, data).token, world.acme)
    assert stored.counts == {"new": 2, "unchanged": 0, "error": 0}
    add_wallet(world.beta, "solana", second, "2024-01-01")
    with pytest.raises(UploadRejected) as refused:
        commit_file(world.acme, data, "wallets.csv", kept=stored)
    reasons = [(row.line, row.outcome.value, row.reason) for row in refused.value.check.rows]
    assert reasons == [
        (2, "new", ""),
        (3, "error", "already claimed by partner Beta Exchange on solana"),
    ]
    assert stored_addresses(world.acme) == set()


def test_a_chain_whose_format_changed_checks_every_row_again(world):
    """An address valid for the format the preview went by is refused once the chain's
    format changed: the preview no longer stands in for the bytes."""
    address = solana_address()
    data = wallet_csv([(address, "solana", "2024-02-01", "")])
    stored = load_upload(kept(world.acme, data).token, world.acme)
    db.session.get(Chain, "solana").address_format = "evm"
    db.session.commit()
    assert kept_check(world.acme, stored) is None
    with pytest.raises(UploadRejected) as refused:
        commit_file(world.acme, data, "wallets.csv", kept=stored)
    (row,) = refused.value.check.rows
    assert (row.outcome.value, row.column) == ("error", "wallet_address")
    assert row.reason.startswith("wrong prefix")
    assert stored_addresses() == set()


def test_on_another_day_every_row_is_checked_again(world, monkeypatch):
    """A wallet introduced tomorrow is refused by the preview; the next day the same kept
    file commits it, checked again under that day."""
    tomorrow = today_utc() + timedelta(days=1)
    address = solana_address()
    data = wallet_csv([(address, "solana", tomorrow.isoformat(), "")])
    stored = load_upload(kept(world.acme, data).token, world.acme)
    assert stored.counts["error"] == 1
    monkeypatch.setattr(checks, "today_utc", lambda: tomorrow)
    assert kept_check(world.acme, stored) is None
    result = commit_file(world.acme, data, "wallets.csv", kept=stored)
    assert result.added == 1
    stored_dates = db.session.scalars(
        select(PartnerWallet.introduced_date).where(PartnerWallet.wallet_address == address)
    ).all()
    assert stored_dates == [tomorrow]


def test_a_preview_kept_without_its_basis_checks_every_row_again(world):
    """A file kept before the basis was kept beside it (or by anything that did not keep
    it) is checked from its bytes."""
    data = wallet_csv([(solana_address(), "solana", "2024-02-01", "")])
    stored = load_upload(kept(world.acme, data).token, world.acme)
    stored.basis = {}
    assert kept_check(world.acme, stored) is None
    assert commit_file(world.acme, data, "wallets.csv", kept=stored).added == 1


def test_the_page_commit_does_not_read_the_rows_again(world, manager_client, monkeypatch):
    """Through the page, a previewed file is committed from its preview: the rows are not
    parsed again, and exactly its new wallets are stored."""
    addresses = [solana_address(), solana_address()]
    data = wallet_csv([(a, "solana", "2024-02-01", "") for a in addresses])
    token = token_of(upload(manager_client, world.acme, data).get_data(as_text=True))

    def parsed_again(*args, **kwargs):
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr(wallet_upload, "check_file", parsed_again)
    answer = manager_client.post(
        partner_url(world.acme, f"/wallets/uploads/{token}/commit"), headers=HX
    )
    assert answer.status_code == 200
    assert stored_addresses(world.acme) == set(addresses)
