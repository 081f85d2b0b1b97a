"""The digests of a partner's stake events up to a cutoff (`fingerprints.partner_events`)
and of its wallets (`fingerprints.wallet_digests`), parts of every period's inputs digest:
kept on PostgreSQL so that the pages read a few rows instead of every stake event and
wallet of the partner, and never stale: any write to the chain's stake events (an import, a
replacement, statements by hand, the table emptied) or to the partner's wallets (every
service that writes them, statements by hand) moves what they are kept under, so a run
shows as stale and a commit computes again, with the digest summed from scratch.

The world is `test_set_based`'s (four periods, fourteen wallets, a stranger)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select, text, update

from tests import factories
from tests.commissions.test_set_based import _world
from tests.imports.test_imports import EVENTS_HEADER
from webapp.commissions import committing, fingerprints, inputs, kept, staleness
from webapp.commissions.terms import period_uuid, terms_of
from webapp.extensions import db
from webapp.imports.importing import import_file
from webapp.models import (
    CanonicalPeriod,
    CanonicalStakeEvent,
    CommissionRun,
    CommissionRunPeriod,
    KeptPeriod,
    Partner,
    PartnerWallet,
)

MARCH = (date(2025, 3, 1), date(2025, 3, 31))
TABLE = "canonical_stake_events"


def _scope(agreement):
    return inputs.scope_of(agreement, *MARCH)


def _cutoff(agreement, period=None, last_start=None):
    """(partner, chain, until, last start date) as `events_query` takes them: the end of
    `period` (the last of the scope by default) and its start date."""
    period = period or _scope(agreement)[-1]
    return (
        agreement.partner_id,
        agreement.chain_id,
        period.end_time,
        last_start or period.start_date,
    )


def _asked(cutoffs) -> dict:
    return fingerprints.partner_events(db.session, set(cutoffs))


def _qualifying(cutoff) -> list:
    """The partner's events the cutoff takes, chosen here in Python from every event joined
    with its wallet: (event, its row digest as the database hashes it)."""
    partner_id, chain_id, until, last_start = cutoff
    E, W = CanonicalStakeEvent, PartnerWallet
    found = db.session.execute(
        select(E, W.is_active, W.introduced_date, fingerprints.event_digest())
        .join(W, (W.chain_id == E.chain_id) & (W.wallet_address == E.staker_address))
        .where(W.partner_id == partner_id)
        .order_by(E.event_timestamp, E.staker_address, E.validator_key, E.stake_amount_native)
    ).all()
    return [
        (event, int(digest))
        for event, active, introduced, digest in found
        if event.chain_id == chain_id
        and active
        and (last_start is None or introduced <= last_start)
        and event.event_timestamp < until
    ]


def _counted(cutoff) -> tuple[int, str]:
    """The same figure added up here, event by event."""
    rows = _qualifying(cutoff)
    return len(rows), str(sum(digest for _, digest in rows))


def _kept_events() -> int:
    return db.session.scalar(
        select(func.count()).select_from(KeptPeriod).where(KeptPeriod.kind == kept.KIND_EVENTS)
    )


def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def _commits_again_as_from_scratch(agreement, run) -> None:
    """March committed again: a new run, not stale, whose stored digests are those of a
    fingerprint computed with nothing kept."""
    committing.commit(agreement.partner, *MARCH)
    newest = db.session.scalars(
        select(CommissionRun).order_by(CommissionRun.created_at.desc()).limit(1)
    ).one()
    assert newest.run_id != run.run_id
    assert staleness.is_stale(newest) == []
    db.session.execute(delete(KeptPeriod))
    db.session.commit()
    cold = fingerprints.fingerprint(
        agreement.partner_id, agreement.chain_id, terms_of(agreement), _scope(agreement)
    )
    assert sorted(_stored_digests(newest)) == sorted(cold.digests.values())


def test_the_figures_are_the_events_added_up_for_every_cutoff(app):
    """Each period's end, each with its own start date, and the last end with other start
    dates (which wallets count): asked one by one, then all at once, each is its own
    figure."""
    agreement = _world(21)
    scope = _scope(agreement)
    last = scope[-1]
    cutoffs = [_cutoff(agreement, p) for p in scope]
    # One start date, every end: the end alone tells them apart.
    cutoffs += [_cutoff(agreement, p, last.start_date) for p in scope[:-1]]
    # One end, other start dates: the wallets introduced by then alone tell them apart.
    cutoffs += [_cutoff(agreement, last, day) for day in (date(2025, 1, 31), date(2025, 2, 1))]
    # Every active wallet (no start date, as the set-based digests ask), at every end.
    cutoffs += [(*_cutoff(agreement, p)[:3], None) for p in scope]
    counted = {cutoff: _counted(cutoff) for cutoff in cutoffs}
    assert len(set(counted.values())) > len(scope)  # the cutoffs do differ
    for cutoff in cutoffs:
        assert _asked([cutoff]) == {cutoff: counted[cutoff]}
    assert _asked(cutoffs) == counted
    if _postgres():
        assert _kept_events() == len(set(cutoffs))


def test_a_kept_figure_is_read_instead_of_the_events(app, monkeypatch):
    agreement = _world(22)
    cutoff = _cutoff(agreement)
    first = _asked([cutoff])
    assert first == {cutoff: _counted(cutoff)}
    assert _kept_events() == (1 if _postgres() else 0)
    committing.commit(agreement.partner, *MARCH)
    run = db.session.scalars(select(CommissionRun)).one()
    assert staleness.is_stale(run) == []
    if not _postgres():
        return  # SQLite keeps nothing: it adds the events up each time

    def no_events(*args):
        raise AssertionError("the stake events were read again")

    monkeypatch.setattr(fingerprints, "_summed_events", no_events)
    assert _asked([cutoff]) == first
    # The run's page, the range's and home check runs this way: no event read either.
    assert staleness.is_stale(run) == []
    prints = fingerprints.fingerprint(
        agreement.partner_id, agreement.chain_id, terms_of(agreement), _scope(agreement)
    )
    assert set(prints.digests.values()) == set(_stored_digests(run))


def _stored_digests(run) -> list[str]:
    RP = CommissionRunPeriod
    return db.session.scalars(select(RP.inputs_digest).where(RP.run_id == run.run_id)).all()


# ---- Every path that writes stake events --------------------------------------------------------
#
# Each changes the events the last period's cutoff takes (after a commit and a page asked
# with the figure kept); the run is then stale ("stake events changed"), the figure is the
# one added up from scratch, and a commit computes again with the digest of a cold fingerprint.


def _one(agreement, n=0):
    """The n-th event the cutoff of the scope takes."""
    return _qualifying(_cutoff(agreement))[n][0]


def _active_wallet(agreement) -> str:
    W = PartnerWallet
    return db.session.scalars(
        select(W.wallet_address)
        .where(W.partner_id == agreement.partner_id, W.is_active.is_(True))
        .where(W.introduced_date <= _scope(agreement)[-1].start_date)
        .order_by(W.wallet_address)
    ).first()


def _events_file(tmp_path, rows) -> str:
    path = tmp_path / "events.csv"
    path.write_text(
        EVENTS_HEADER
        + "".join(
            f"solana,{validator},{staker},{kind},{amount},{when.isoformat()}\n"
            for validator, staker, kind, amount, when in rows
        )
    )
    return str(path)


def _import_an_event(agreement, tmp_path):
    when = _scope(agreement)[1].start_time + timedelta(hours=1)
    path = _events_file(tmp_path, [("VoteA", _active_wallet(agreement), "STAKE", 3, when)])
    report = import_file("stake-events", path, "late rpc")
    assert report.ok, report.headline()


def _replace_the_events(agreement, tmp_path):
    """The world's events are all filed under its first period: a file of that period
    replaces every one of them."""
    when = _scope(agreement)[0].start_time + timedelta(hours=2)
    path = _events_file(tmp_path, [("VoteB", _active_wallet(agreement), "STAKE", 4, when)])
    report = import_file("stake-events", path, "late rpc", replace=True)
    assert report.ok, report.headline()
    assert sum(report.replaced.values()) > 1


def _add_through_the_orm(agreement, tmp_path):
    period = db.session.get(CanonicalPeriod, period_uuid(_scope(agreement)[0].period_id))
    factories.events(
        factories.payload(factories.provider("by hand"), "stake-events"),
        period,
        [("VoteC", _active_wallet(agreement), "STAKE", Decimal(2), period.start_time)],
    )


def _update_an_amount(agreement, tmp_path):
    event = _one(agreement)
    db.session.execute(
        text(
            f"UPDATE {TABLE} SET stake_amount_native = stake_amount_native + 0.5 "
            f"WHERE stake_event_id = '{event.stake_event_id.hex}'"
            if not _postgres()
            else f"UPDATE {TABLE} SET stake_amount_native = stake_amount_native + 0.5 "
            f"WHERE stake_event_id = '{event.stake_event_id}'"
        )
    )


def _swap_two_amounts(agreement, tmp_path):
    """Two events trade their amounts: the count and the sum of amounts stay as they were."""
    rows = [event for event, _ in _qualifying(_cutoff(agreement))]
    one = rows[0]
    other = next(e for e in rows if e.stake_amount_native != one.stake_amount_native)
    E = CanonicalStakeEvent
    for event, amount in ((one, other.stake_amount_native), (other, one.stake_amount_native)):
        db.session.execute(
            update(E)
            .where(E.stake_event_id == event.stake_event_id)
            .values(stake_amount_native=amount)
        )


def _delete_an_event(agreement, tmp_path):
    E = CanonicalStakeEvent
    db.session.execute(delete(E).where(E.stake_event_id == _one(agreement).stake_event_id))


def _empty_the_table(agreement, tmp_path):
    db.session.execute(text(f"TRUNCATE {TABLE}" if _postgres() else f"DELETE FROM {TABLE}"))


WRITES = [
    _import_an_event,
    _replace_the_events,
    _add_through_the_orm,
    _update_an_amount,
    _swap_two_amounts,
    _delete_an_event,
    _empty_the_table,
]


@pytest.mark.parametrize("write", WRITES)
def test_any_write_to_stake_events_makes_the_run_stale_and_the_commit_compute(app, tmp_path, write):
    agreement = _world(23)
    cutoff = _cutoff(agreement)
    committing.commit(agreement.partner, *MARCH)
    run = db.session.scalars(select(CommissionRun)).one()
    assert staleness.is_stale(run) == []
    before = _asked([cutoff])[cutoff]
    kept_before = _kept_events()
    assert _asked([cutoff])[cutoff] == before
    assert _kept_events() == kept_before  # read back, not kept again
    write(agreement, tmp_path)
    db.session.commit()
    db.session.expire_all()

    after = _asked([cutoff])[cutoff]
    assert after == _counted(cutoff)
    assert after != before
    stale = staleness.is_stale(run)
    assert stale and all("stake events changed since commit" in line for line in stale), stale
    # The commit computes again, with the digests a cold fingerprint gives.
    _commits_again_as_from_scratch(agreement, run)


def test_a_wallet_change_moves_the_figure(app):
    agreement = _world(24)
    cutoff = _cutoff(agreement)
    before = _asked([cutoff])[cutoff]
    W = PartnerWallet
    wallet = db.session.scalars(
        select(W).where(W.wallet_address == _one(agreement).staker_address)
    ).one()
    wallet.is_active = False
    db.session.commit()
    after = _asked([cutoff])[cutoff]
    assert after == _counted(cutoff)
    assert after != before


def test_nothing_is_kept_from_a_transaction_that_wrote_events(app):
    agreement = _world(25)
    cutoff = _cutoff(agreement)
    _asked([cutoff])
    kept_before = _kept_events()
    _add_through_the_orm(agreement, None)
    db.session.flush()
    assert _asked([cutoff]) == {cutoff: _counted(cutoff)}
    assert _kept_events() == kept_before
    db.session.commit()
    # Once committed, another transaction keeps it.
    assert _asked([cutoff]) == {cutoff: _counted(cutoff)}
    assert _kept_events() == (kept_before + 1 if _postgres() else 0)


@pytest.mark.postgres_only
def test_nothing_is_kept_when_the_events_moved_while_they_were_summed(app, monkeypatch):
    """An event committed by another transaction between reading the revision and summing:
    the sum holds it, the revision read before does not, so nothing is kept under it."""
    agreement = _world(26)
    cutoff = _cutoff(agreement)
    summed = fingerprints._summed_events
    event = _one(agreement)

    def racing(reader, cutoffs):
        with db.engine.begin() as other:
            other.execute(
                text(
                    f"UPDATE {TABLE} SET stake_amount_native = stake_amount_native + 1 "
                    f"WHERE stake_event_id = '{event.stake_event_id}'"
                )
            )
        return summed(reader, cutoffs)

    monkeypatch.setattr(fingerprints, "_summed_events", racing)
    raced = _asked([cutoff])
    assert _kept_events() == 0
    monkeypatch.setattr(fingerprints, "_summed_events", summed)
    db.session.commit()
    assert _asked([cutoff]) == raced == {cutoff: _counted(cutoff)}
    assert _kept_events() == 1


# ---- The partner's wallets --------------------------------------------------------------------


def _wallets_asked(agreement) -> dict:
    return fingerprints.wallet_digests(db.session, {agreement.partner_id})


def _wallets_counted(agreement) -> dict:
    """The partner's wallets' digest per chain, added up here wallet by wallet."""
    W = PartnerWallet
    found: dict = {}
    for chain_id, digest in db.session.execute(
        select(W.chain_id, fingerprints.WALLET_DIGEST).where(W.partner_id == agreement.partner_id)
    ):
        count, total = found.get((agreement.partner_id, chain_id), (0, 0))
        found[(agreement.partner_id, chain_id)] = (count + 1, total + int(digest))
    return {key: (count, str(total)) for key, (count, total) in found.items()}


def _kept_wallets() -> int:
    return db.session.scalar(
        select(func.count()).select_from(KeptPeriod).where(KeptPeriod.kind == kept.KIND_WALLETS)
    )


def test_the_wallets_digest_is_kept_and_read_instead_of_the_wallets(app, monkeypatch):
    agreement = _world(27)
    stranger = db.session.scalars(select(Partner).where(Partner.name == "Stranger 27")).one()
    first = _wallets_asked(agreement)
    assert first == _wallets_counted(agreement)
    both = fingerprints.wallet_digests(db.session, {agreement.partner_id, stranger.partner_id})
    theirs = {
        (stranger.partner_id, "solana"): fingerprints.wallet_digests(
            db.session, {stranger.partner_id}
        )[(stranger.partner_id, "solana")]
    }
    assert theirs[(stranger.partner_id, "solana")][0] == 1
    assert both == {**first, **theirs}
    if not _postgres():
        return
    assert _kept_wallets() == 2

    def no_wallets(*args):
        raise AssertionError("the wallets were read again")

    monkeypatch.setattr(fingerprints, "_summed_wallets", no_wallets)
    assert _wallets_asked(agreement) == first


def _new_address(agreement) -> str:
    from tests.worlds import solana_address

    return solana_address()


def _add_a_wallet(agreement):
    from webapp.wallets.service import add_wallet

    add_wallet(agreement.partner, "solana", _new_address(agreement), "2025-01-15")


def _upload_wallets(agreement):
    from tests.worlds import wallet_csv
    from webapp.wallets.upload import commit_file

    data = wallet_csv([(_new_address(agreement), "solana", "2025-01-15", "")])
    commit_file(agreement.partner, data, "more.csv")


def _change_an_introduced_date(agreement):
    from webapp.wallets.service import update_wallet

    wallet = db.session.scalars(
        select(PartnerWallet).where(PartnerWallet.wallet_address == _one(agreement).staker_address)
    ).one()
    update_wallet(wallet, "2025-03-01", "later")


def _deactivate_a_wallet(agreement):
    from webapp.wallets.service import set_wallet_active

    wallet = db.session.scalars(
        select(PartnerWallet).where(PartnerWallet.wallet_address == _one(agreement).staker_address)
    ).one()
    set_wallet_active(wallet, False)


def _deactivate_wallets_at_once(agreement):
    from webapp.wallets.service import set_wallets_active

    W = PartnerWallet
    ids = db.session.scalars(
        select(W.wallet_id).where(W.partner_id == agreement.partner_id, W.is_active.is_(True))
    ).all()
    assert set_wallets_active(agreement.partner, [str(i) for i in ids[:2]], False) == 2


def _delete_a_wallet_by_hand(agreement):
    W = PartnerWallet
    db.session.execute(delete(W).where(W.wallet_address == _one(agreement).staker_address))


WALLET_WRITES = [
    _add_a_wallet,
    _upload_wallets,
    _change_an_introduced_date,
    _deactivate_a_wallet,
    _deactivate_wallets_at_once,
    _delete_a_wallet_by_hand,
]


@pytest.mark.parametrize("write", WALLET_WRITES)
def test_any_write_to_the_partners_wallets_makes_the_run_stale(app, write):
    agreement = _world(29)
    committing.commit(agreement.partner, *MARCH)
    run = db.session.scalars(select(CommissionRun)).one()
    assert staleness.is_stale(run) == []
    before = _wallets_asked(agreement)
    if _postgres():
        assert _kept_wallets() == 1
    write(agreement)
    db.session.commit()
    db.session.expire_all()
    after = _wallets_asked(agreement)
    assert after == _wallets_counted(agreement)
    assert after != before
    stale = staleness.is_stale(run)
    assert stale and all("wallets" in line for line in stale), stale
    _commits_again_as_from_scratch(agreement, run)


def test_no_wallets_digest_is_kept_from_a_transaction_that_wrote_wallets(app):
    agreement = _world(30)
    _wallets_asked(agreement)
    kept_before = _kept_wallets()
    wallet = db.session.scalars(
        select(PartnerWallet).where(PartnerWallet.partner_id == agreement.partner_id)
    ).first()
    wallet.introduced_date = date(2025, 1, 2)
    db.session.flush()
    assert _wallets_asked(agreement) == _wallets_counted(agreement)
    assert _kept_wallets() == kept_before
    db.session.commit()
    assert _wallets_asked(agreement) == _wallets_counted(agreement)
    assert _kept_wallets() == (kept_before + 1 if _postgres() else 0)
