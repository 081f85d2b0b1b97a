"""Every wallet explained: the wallet list of a preview and of a run, searched and paged,
and the page of one wallet across the periods: paid on which lines, or why not."""

import re
from datetime import date
from decimal import Decimal

import pytest

from tests.insight_html import plain_amounts
from tests.worlds import (
    W_INACTIVE,
    W_LATE,
    W_OTHER,
    W_PAID,
    W_UNSTAKED,
    world_with_agreements,
)
from webapp.commissions import committing, results
from webapp.extensions import db
from webapp.insight import explain
from webapp.models import PartnerWallet
from webapp.money import format_amount, money_sum

HX = {"HX-Request": "true"}
FIRST, LAST = date(2025, 1, 1), date(2025, 1, 3)
W_QUIET = "WalletQuiet"


@pytest.fixture
def world(app):
    world = world_with_agreements(3)
    # A wallet of the partner with no reward at all in the range.
    db.session.add(
        PartnerWallet(
            partner_id=world.acme.partner_id,
            chain_id="solana",
            wallet_address=W_QUIET,
            introduced_date=date(2024, 12, 1),
            is_active=True,
        )
    )
    db.session.commit()
    return world


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return plain_amounts(response.get_data(as_text=True))


def range_args(**extra) -> dict:
    return {"date_from": FIRST.isoformat(), "date_to": LAST.isoformat(), **extra}


def list_rows(fragment: str) -> dict[str, tuple[str, str, str]]:
    rows = re.findall(
        r'<tr class="wallet-explained-row" data-wallet="([^"]*)">.*?'
        r'<td class="num">([^<]*)</td>\s*<td class="num">([^<]*)</td>\s*<td>([^<]*)</td>',
        fragment,
        re.S,
    )
    return {wallet: (commission, lines, why) for wallet, commission, lines, why in rows}


def engine_commission(world, address: str):
    result = next(
        o.result
        for o in results.preview(world.acme, FIRST, LAST, lines=True).outcomes
        if o.agreement == world.solana
    )
    return money_sum(
        line.commission_amount_native for line in result.lines if line.wallet_address == address
    ), result


def test_the_preview_lists_every_wallet_with_its_commission_or_why_not(manager_client, world):
    url = f"/insight/agreements/{world.solana.agreement_id}/wallets"
    rows = list_rows(text(manager_client.get(url, query_string=range_args(), headers=HX)))
    assert set(rows) == {W_PAID, W_INACTIVE, W_LATE, W_UNSTAKED, W_QUIET, *world.extra}
    assert W_OTHER not in rows
    for address in rows:
        commission, _ = engine_commission(world, address)
        assert rows[address][0] == format_amount(commission)
    assert rows[W_PAID][2] == "paid in 3 of 3 period(s)"
    assert rows[W_LATE][2] == "paid in 2 of 3 period(s)"
    assert rows[W_INACTIVE][2] == "wallet inactive (every period)"
    assert rows[W_QUIET][2] == "no staker rewards in this period (every period)"


def test_the_search_finds_a_wallet_with_no_rewards_and_pages_follow(
    manager_client, world, monkeypatch
):
    url = f"/insight/agreements/{world.solana.agreement_id}/wallets"
    found = text(manager_client.get(url, query_string=range_args(q="Quiet"), headers=HX))
    assert list(list_rows(found)) == [W_QUIET]
    missing = text(manager_client.get(url, query_string=range_args(q="zzz"), headers=HX))
    assert "No wallet of the partner contains “zzz”." in missing
    monkeypatch.setattr(explain, "WALLET_PAGE", 2)
    seen, args = [], range_args()
    while True:
        page = text(manager_client.get(url, query_string=args, headers=HX))
        seen += list(list_rows(page))
        more = re.search(r'<tr class="more-row">.*?hx-get="[^"]*after=([^&"]*)', page, re.S)
        if not more:
            break
        args = range_args(after=more.group(1))
    assert seen == sorted({W_PAID, W_INACTIVE, W_LATE, W_UNSTAKED, W_QUIET, *world.extra})


def periods_of(page: str) -> dict[str, str]:
    return {
        label: re.sub(r"\s+", " ", body)
        for label, body in re.findall(
            r'<tr class="wallet-period[^"]*" data-period="([^"]*)">(.*?)</tr>', page, re.S
        )
    }


def outcomes_of(page: str) -> dict[str, tuple]:
    """Per period row: its outcome, what it held back in all, and its commission."""
    return {
        label: (
            re.search(r"<td>([^<]*)</td>", body).group(1),
            money_sum(Decimal(a) for a in re.findall(r"([\d.]+) held back", body)),
            re.findall(r'<td class="num">([^<]*)</td>', body),
        )
        for label, body in periods_of(page).items()
    }


def test_a_wallet_page_explains_each_period(manager_client, world):
    base = f"/insight/agreements/{world.solana.agreement_id}/wallets"
    quiet = text(manager_client.get(f"{base}/{W_QUIET}", query_string=range_args()))
    # Three quiet periods read as one row, and nothing is held back.
    assert periods_of(quiet) == {
        "701": periods_of(quiet)["701"],
    }
    assert "701 – 703" in quiet and "no staker rewards in this period" in quiet
    assert 'id="wallet-commission">0<' in quiet and "held back" not in periods_of(quiet)["701"]

    late = periods_of(text(manager_client.get(f"{base}/{W_LATE}", query_string=range_args())))
    assert "introduced after period start" in late["701"]
    assert "paid on 2 line(s)" in late["702"] and "paid on 2 line(s)" in late["703"]

    unstaked = text(manager_client.get(f"{base}/{W_UNSTAKED}", query_string=range_args()))
    rows = periods_of(unstaked)
    assert "not staked with validator during period" in rows["703"]
    commission, result = engine_commission(world, W_UNSTAKED)
    assert f'id="wallet-commission">{format_amount(commission)}<' in unstaked
    held = money_sum(
        ex.held_back_amount_native for ex in result.exclusions if ex.wallet_address == W_UNSTAKED
    )
    assert f"{format_amount(held)} held back" in unstaked

    inactive = text(manager_client.get(f"{base}/{W_INACTIVE}", query_string=range_args()))
    # Inactive, but rewards were there: each period says how much was held back.
    assert "wallet inactive, 11.500000000000000001 held back" in inactive

    assert manager_client.get(f"{base}/{W_OTHER}", query_string=range_args()).status_code == 404


def test_a_run_explains_its_wallets_as_the_preview_did(manager_client, world):
    computation = committing.commit(world.acme, FIRST, LAST)
    run = next(o.run for o in computation.outcomes if o.agreement == world.solana)
    preview_base = f"/insight/agreements/{world.solana.agreement_id}/wallets"
    run_base = f"/insight/runs/{run.run_id}/wallets"
    preview_rows = list_rows(
        text(manager_client.get(preview_base, query_string=range_args(), headers=HX))
    )
    run_rows = list_rows(text(manager_client.get(run_base, headers=HX)))
    assert run_rows == preview_rows
    for address in (W_PAID, W_LATE, W_QUIET, W_UNSTAKED, W_INACTIVE):
        from_run = text(manager_client.get(f"{run_base}/{address}"))
        from_preview = text(
            manager_client.get(f"{preview_base}/{address}", query_string=range_args())
        )
        # A run keeps exclusions per validator (components together): the outcome, the
        # amounts and the commission read the same.
        assert outcomes_of(from_run) == outcomes_of(from_preview)
    # The run page links its wallet list; the list links each wallet's page.
    page = text(manager_client.get(f"/commissions/runs/{run.run_id}"))
    assert f'hx-get="{run_base}"' in page
    assert f'href="{run_base}/{W_QUIET}"' in text(manager_client.get(run_base, headers=HX))


def test_total_revenue_wallets_are_not_counted_one_by_one(manager_client, world):
    world.solana.wallet_attribution_enabled = False
    db.session.commit()
    base = f"/insight/agreements/{world.solana.agreement_id}/wallets"
    page = text(manager_client.get(f"{base}/{W_PAID}", query_string=range_args()))
    assert "wallets are not counted one by one" in page
    rows = list_rows(text(manager_client.get(base, query_string=range_args(), headers=HX)))
    assert rows[W_PAID] == ("0", "0", "not counted one by one (total revenue)")
