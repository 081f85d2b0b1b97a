"""A "not staked" wallet's explanation shows the stake events that decided it: the events
before the period that set its opening balance, and those inside it, with the running
balance, as the calculation replays them.

Hand-made world: Solana, daily periods 1 and 2 January 2025, one agreement paying MEV at
10% per wallet. Rewards: 10 MEV with Vote111 in each period for every wallet, and 4 MEV
with Vote222 for BLIP on 2 January.
- OUT staked 7 (30 Dec) and 3 (31 Dec) with Vote111 and unstaked 10 on 1 January at
  12:00: staked on 1 January (balance 10 at its start), not on 2 January (balance 0 from
  12:00 the day before, no event inside). Its 100 staked with Vote222 never shows.
- BLIP staked 5 and unstaked 5 at one instant (2 January, 06:00), stored unstake first:
  the calculation replays the stake first, balance 5 then 0, and the instant counts as 0.
  On 1 January: nothing staked at all. Vote222: no event ever.
- STEADY staked 1 on 1 December: paid in both periods, no stake events shown.
"""

import re
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from tests import factories
from webapp.commissions import committing
from webapp.extensions import db
from webapp.insight import explain

V1, V2 = "Vote111", "Vote222"
OUT, BLIP, STEADY = "WalletOut", "WalletBlip", "WalletSteady"


def at(day, hour=0, month=1, year=2025):
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture
def world(app):
    acme = factories.partner("Acme Wallet", "solana")
    terms = factories.agreement(acme, "MEV=1000", wallet_attribution=True)
    source = factories.provider("jito")
    periods_file = factories.payload(source, "periods")
    rewards_file = factories.payload(source, "staker-rewards")
    events_file = factories.payload(source, "stake-events")
    first = factories.period(periods_file, "2025-01-01", at(1), at(2))
    second = factories.period(periods_file, "2025-01-02", at(2), at(3))
    for address in (OUT, BLIP, STEADY):
        factories.wallet(acme, address)
    for period in (first, second):
        rows = [(V1, address, "MEV", "10") for address in (OUT, BLIP, STEADY)]
        if period is second:
            rows.append((V2, BLIP, "MEV", "4"))
        factories.rewards(rewards_file, period, rows)
    factories.events(
        events_file,
        first,
        [
            (V1, OUT, "STAKE", "7", at(30, month=12, year=2024)),
            (V1, OUT, "STAKE", "3", at(31, month=12, year=2024)),
            (V1, OUT, "UNSTAKE", "10", at(1, 12)),
            (V2, OUT, "STAKE", "100", at(1, month=12, year=2024)),
            (V1, BLIP, "UNSTAKE", "5", at(2, 6)),
            (V1, BLIP, "STAKE", "5", at(2, 6)),
            (V1, STEADY, "STAKE", "1", at(1, month=12, year=2024)),
        ],
    )
    db.session.commit()
    return terms


def explained(terms, address):
    wallet = explain.wallet_of(terms.partner_id, "solana", address)
    [explanation] = explain.explain_preview(terms, date(2025, 1, 1), date(2025, 1, 2), [wallet])
    explain.add_stake_evidence(terms, date(2025, 1, 1), date(2025, 1, 2), explanation)
    return {p.label: p for p in explanation.periods}


def steps(items):
    return [(s.event_timestamp, s.event_type, s.amount_native, s.balance_native) for s in items]


def test_an_unstake_before_the_period(world):
    periods = explained(world, OUT)
    assert periods["2025-01-01"].verdict == "paid"
    assert periods["2025-01-01"].stake_evidence == []
    [evidence] = periods["2025-01-02"].stake_evidence
    assert evidence.validator_key == V1 and evidence.staked is False
    assert evidence.opening_balance_native == D(0)
    # The unstake that emptied the balance; the two stakes before it are counted, not shown.
    assert steps(evidence.earlier) == [(at(1, 12), "UNSTAKE", D(10), D(0))]
    assert evidence.earlier_hidden == 2
    assert evidence.during == []
    assert evidence.summary == "balance 0 at the period's start, and no event inside the period"


def test_a_stake_and_unstake_at_one_instant(world):
    periods = explained(world, BLIP)
    blip, no_events = periods["2025-01-02"].stake_evidence
    assert (blip.validator_key, no_events.validator_key) == (V1, V2)
    assert blip.opening_balance_native == D(0) and blip.earlier == []
    assert steps(blip.during) == [
        (at(2, 6), "STAKE", D(5), D(5)),
        (at(2, 6), "UNSTAKE", D(5), D(0)),
    ]
    assert all(s.same_instant for s in blip.during) and blip.staked is False
    assert "a stake and an unstake at one instant left none" in blip.summary
    assert no_events.earlier == no_events.during == [] and no_events.earlier_hidden == 0
    assert no_events.summary.startswith("no stake event")
    # 1 January: no event at all before its end.
    [first] = periods["2025-01-01"].stake_evidence
    assert first.earlier == first.during == [] and first.opening_balance_native == D(0)


def test_a_paid_wallet_shows_no_stake_events(world):
    periods = explained(world, STEADY)
    assert [p.verdict for p in periods.values()] == ["paid", "paid"]
    assert all(p.stake_evidence == [] for p in periods.values())


def evidence_blocks(html):
    return {
        m.group(1): m.group(0)
        for m in re.finditer(
            r'<details class="stake-evidence" data-validator="([^"]+)">.*?</details>', html, re.S
        )
    }


def test_the_wallet_pages_show_the_events(world, viewer_client, make_user):
    query = {"date_from": "2025-01-01", "date_to": "2025-01-02"}
    url = f"/insight/agreements/{world.agreement_id}/wallets/{OUT}"
    html = viewer_client.get(url, query_string=query).get_data(as_text=True)
    row = html.split('data-period="2025-01-02"')[1].split("</tr>\n  <tr")[0]
    [block] = evidence_blocks(row).values()
    assert "2025-01-01 12:00:00" in block and "UNSTAKE" in block
    assert re.findall(r'data-balance="([^"]+)"', block) == ["0", "0"]
    assert "2 earlier event(s) not shown" in block
    assert "stake-evidence" not in html.split('data-period="2025-01-02"')[0]

    # The committed run's wallet page tells the same.
    computation = committing.commit(
        world.partner, date(2025, 1, 1), date(2025, 1, 2), user=make_user("manager")
    )
    run_id = computation.outcomes[0].run.run_id
    html = viewer_client.get(f"/insight/runs/{run_id}/wallets/{BLIP}").get_data(as_text=True)
    row = html.split('data-period="2025-01-02"')[1]
    blocks = evidence_blocks(row)
    assert set(blocks) == {V1, V2}
    balances = [D(b) for b in re.findall(r'data-balance="([^"]+)"', blocks[V1])]
    assert balances == [D(0), D(5), D(0)]  # opening, after the stake, after the unstake
    assert "same instant as another event" in blocks[V1]
