"""Late data on closed months costs the engine once, not once per page load: the differences
are kept by each locked pair's digests (at commit and today) and the adjustments stored on
it, so a second page reads them and a change of data measures again.

World (`worlds.setup`, as in `test_stale_and_late`): January by hand, Acme
SOL approved at 1.4; the corrected rewards file gives 1.5 (+0.1 over 2 lines). A further
correction (PAID MEV 13 -> 23) gives 2.3 + 0.2 = 2.5: +1.1 against the 1.4 approved.
"""

import re
from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import select, update

from tests.close.test_stale_and_late import CORRECTED, january_cell, live_runs, page
from tests.worlds import FEB, JAN, PAID, commit_january, ok, rewards_file
from webapp.commissions import staleness
from webapp.commissions import true_ups as run_module
from webapp.commissions.fingerprints import fingerprint
from webapp.commissions.inputs import scope_of
from webapp.commissions.terms import terms_of
from webapp.extensions import db
from webapp.models import CanonicalStakerRewardsDetail, KeptSummary

FIGURES = re.compile(r'<span data-(\w+)><data class="amount"[^>]*data-exact="([^"]+)"')


@pytest.fixture
def engine_calls(monkeypatch):
    """Each measure of locked pairs against today's data by the engine
    (`runs.locked_differences`): "run" for one run's late data, "range" for a true-up."""
    calls = []
    real = run_module.locked_differences

    def counted(partner, until=None, run_id=None):
        calls.append("run" if run_id is not None else "range")
        return real(partner, until=until, run_id=run_id)

    monkeypatch.setattr(run_module, "locked_differences", counted)
    return calls


def late_figures(html: str) -> dict[str, D]:
    notice = html.split('class="flash flash-warning change-notice late-data"')[1]
    notice = notice.split("</div>")[0]
    return {name: D(value) for name, value in FIGURES.findall(notice)}


def approved_january_with_late_data(runner, tmp_path):
    sol = commit_january(runner, tmp_path)["Acme SOL"]
    ok(runner, "commissions", "approve", *JAN, "--as", "bob@example.com")
    fixed = rewards_file(tmp_path, "fixed.csv", CORRECTED)
    ok(runner, "import", "staker-rewards", fixed, "--provider", "jito", "--replace")
    return sol


def test_late_data_is_measured_once_then_read_until_the_data_changes(
    app, runner, tmp_path, viewer_client, manager_client, engine_calls
):
    sol = approved_january_with_late_data(runner, tmp_path)
    engine_calls.clear()  # the commit's own
    run_page = f"/commissions/runs/{sol.run_id}"
    range_query = {"partner": sol.partner_id, "date_from": "2025-01-01", "date_to": "2025-01-31"}
    first = {"locked": D("1.4"), "today": D("1.5"), "difference": D("0.1")}

    assert late_figures(page(viewer_client, run_page)) == first
    assert engine_calls == ["run"]  # measured once, for the one run reached

    # Every page after that reads the kept figures: the engine never runs.
    engine_calls.clear()
    for _ in range(2):
        assert late_figures(page(viewer_client, run_page)) == first
        cell = january_cell(viewer_client)
        assert {name: D(value) for name, value in FIGURES.findall(cell)} == first
        assert late_figures(page(viewer_client, "/commissions/", **range_query)) == first
    assert engine_calls == []

    # February's range page offers the true-up to a manager: measured once, then kept too.
    february = {**range_query, "date_from": "2025-02-01", "date_to": "2025-02-28"}
    review = page(manager_client, "/commissions/", **february)
    true_up = review.split('id="true-up"')[1].split("</label>")[0]
    assert re.search(r'data-exact="0?\.10*" data-token="SOL"', true_up), true_up
    assert "over 2 line(s) in 1 period(s)" in true_up
    assert engine_calls == ["range"]
    engine_calls.clear()
    assert true_up in page(manager_client, "/commissions/", **february)
    assert engine_calls == []

    # A further change of January's rewards: measured again, the new figures shown.
    R = CanonicalStakerRewardsDetail
    db.session.execute(
        update(R)
        .where(R.staker_address == PAID, R.revenue_component == "MEV")
        .values(reward_amount_native=D("23"))
    )
    db.session.commit()
    again = {"locked": D("1.4"), "today": D("2.5"), "difference": D("1.1")}
    assert late_figures(page(viewer_client, run_page)) == again
    assert engine_calls == ["run"]
    engine_calls.clear()
    assert late_figures(page(viewer_client, run_page)) == again
    assert engine_calls == []

    # A commit with the true-up carries the difference: the adjustments stored change the
    # key, the engine measures once more and finds nothing left.
    ok(runner, "commissions", "compute", *FEB, "--commit", "--true-up", "--as", "ann@example.com")
    engine_calls.clear()
    assert "Late data" not in page(viewer_client, run_page)
    assert engine_calls == ["run"]
    engine_calls.clear()
    assert "Late data" not in page(viewer_client, run_page)
    assert engine_calls == []


def test_kept_late_data_equals_the_engines_on_both_paths(app, runner, tmp_path, engine_calls):
    """The figures read back are those measured: period, locked, difference, lines."""
    approved_january_with_late_data(runner, tmp_path)
    engine_calls.clear()  # the commit's own

    def shape(found):
        return {
            run_id: [
                (p.period_id, p.label, p.locked_native, p.difference_native, p.line_count)
                for p in late.periods
            ]
            for run_id, late in found.items()
        }

    measured = shape(staleness.late_changes(live_runs()))
    assert engine_calls == ["run"]
    assert db.session.scalar(select(KeptSummary.figures).limit(1)) is not None
    kept = shape(staleness.late_changes(live_runs()))
    assert engine_calls == ["run"]
    assert kept == measured
    [[(_, label, locked, difference, lines)]] = kept.values()
    assert (label, locked, difference, lines) == ("2025-01", D("1.4"), D("0.1"), 2)


def test_every_runs_digests_at_once_equal_one_fingerprint_per_run(app, runner, tmp_path):
    """`fingerprints_of` (all runs in a few queries) gives each run's pairs the digests
    that `fingerprint` gives one run at a time, on both methods."""
    commit_january(runner, tmp_path)
    ok(runner, "commissions", "compute", *FEB, "--commit", "--as", "ann@example.com")
    ok(
        runner,
        "import",
        "staker-rewards",
        rewards_file(tmp_path, "f.csv", CORRECTED),
        "--provider",
        "jito",
        "--replace",
    )
    runs = live_runs()
    assert {run.agreement.wallet_attribution_enabled for run in runs} == {True, False}
    pairs_of, _ = staleness.held_pairs(runs)
    assert set(pairs_of) == {run.run_id for run in runs}
    for run in runs:
        agreement = run.agreement
        scope = scope_of(agreement, run.date_from, run.date_to)
        one = fingerprint(agreement.partner_id, agreement.chain_id, terms_of(agreement), scope)
        pairs = pairs_of[run.run_id]
        assert pairs and all(p.today is not None for p in pairs)
        for pair in pairs:
            assert pair.today == one.digests[str(pair.period_id)]
            assert pair.today_parts == one.parts[str(pair.period_id)]
    # January's Solana pair moved; the other pairs are as committed.
    moved = {
        (run.agreement.name, run.date_from)
        for run in runs
        for p in pairs_of[run.run_id]
        if p.today != p.digest
    }
    assert moved == {("Acme SOL", date(2025, 1, 1))}
