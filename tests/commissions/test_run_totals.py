"""A run's total is one figure (DOMAIN.md, "Month-end close"): its commission lines plus its
adjustment lines, per token, with the adjustments' part named and the run each corrects
linked. Held to a run carrying a true-up, worked out by hand and from the stored lines one by
one, on every page, file, command and API answer that shows it.

The scenario (`february_carrying_a_true_up`): January approved; its rewards replaced (PAID's
MEV 10 -> 13, LATE's MEV 2 gone); February committed with the true-up. February's Solana run:
one commission line, PAID's MEV 6 x 10% = 0.6; adjustments for January, +3 x 10% = +0.3
(PAID) and -2 x 10% = -0.2 (LATE, a clawback). Total 0.6 + 0.3 - 0.2 = 0.7 over 3 lines.
"""

import csv
import io
import re
from datetime import date
from decimal import Decimal as D

from flask import render_template
from sqlalchemy import select

from tests.api_helpers import bearer
from tests.worlds import february_carrying_a_true_up
from webapp.commissions.totals import run_total, run_totals
from webapp.extensions import db
from webapp.main.queries import last_months, month_overview
from webapp.models import CommissionRun, PartnerCommissionLine
from webapp.money import exact_text

FEB_TOTAL, FEB_LINES = D("0.7"), 3


def january_run(feb: CommissionRun) -> CommissionRun:
    return db.session.scalars(
        select(CommissionRun).where(
            CommissionRun.agreement_id == feb.agreement_id,
            CommissionRun.date_from == date(2025, 1, 1),
            CommissionRun.status == "approved",
        )
    ).one()


def lines_one_by_one(run: CommissionRun) -> tuple[int, D, int, D]:
    """(commission lines, their sum, adjustment lines, their sum) of the run, each stored
    line read and added here: the commission lines of the pairs the run holds, and the
    adjustments whose run is this one."""
    from webapp.models import CommissionRunPeriod as RP

    periods = set(db.session.scalars(select(RP.period_id).where(RP.run_id == run.run_id)))
    count = adjustments = 0
    commission = adjusted = D(0)
    L = PartnerCommissionLine
    for line in db.session.scalars(select(L).where(L.agreement_id == run.agreement_id)):
        if line.line_kind == "adjustment" and line.run_id == run.run_id:
            adjustments += 1
            adjusted += line.commission_amount_native
        elif line.line_kind == "commission" and line.period_id in periods:
            count += 1
            commission += line.commission_amount_native
    return count, commission, adjustments, adjusted


def exact_in(html: str, element_id: str) -> D:
    match = re.search(rf'id="{element_id}"[^>]*>.*?data-exact="([^"]+)"', html, re.S)
    assert match, element_id
    return D(match.group(1))


def test_the_total_of_a_run_carrying_a_true_up(app, runner, tmp_path):
    feb = february_carrying_a_true_up(runner, tmp_path)
    jan = january_run(feb)
    total = run_total(feb)
    # By hand (module docstring).
    assert (total.line_count, total.commission_amount_native) == (1, D("0.6"))
    assert (total.adjustment_count, total.adjustment_amount_native) == (2, D("0.1"))
    assert (total.clawback_count, total.clawback_amount_native) == (1, D("-0.2"))
    assert total.true_up_amount_native == D("0.3")
    assert (total.total_native, total.total_line_count) == (FEB_TOTAL, FEB_LINES)
    # From the stored lines, one by one.
    count, commission, adjustments, adjusted = lines_one_by_one(feb)
    assert (count, commission, adjustments, adjusted) == (1, D("0.6"), 2, D("0.1"))
    assert total.total_native == commission + adjusted
    # The run it corrects: January, approved.
    [correction] = total.corrections
    assert correction.run_id == jan.run_id and correction.status == "approved"
    assert (correction.adjustment_count, correction.adjustment_amount_native) == (2, D("0.1"))
    assert correction.clawback_amount_native == D("-0.2")
    # January's own total: its 3 commission lines, no adjustment (10% of 10 and 2, 5% of 4).
    jan_total = run_totals([jan.run_id, feb.run_id])[jan.run_id]
    assert (jan_total.total_native, jan_total.total_line_count) == (D("1.4"), 3)
    assert jan_total.corrections == [] and jan_total.adjustment_count == 0


def test_every_page_file_command_and_api_answer_shows_that_total(
    app, runner, tmp_path, viewer_client, make_user
):
    feb = february_carrying_a_true_up(runner, tmp_path)
    jan = january_run(feb)
    exact = exact_text(FEB_TOTAL)

    # The run page: the header total is the period table's, adjustments included.
    page = viewer_client.get(f"/commissions/runs/{feb.run_id}").get_data(as_text=True)
    assert exact_in(page, "run-total-commission") == FEB_TOTAL
    assert re.search(r'id="run-line-count">3\b', page)
    footer = re.search(r"<tfoot><tr><th scope=\"row\">Total</th>(.*?)</tr></tfoot>", page, re.S)
    assert re.findall(r'<td class="num">([^<]*)</td>', footer.group(1))[0] == "3"
    assert 'value="0.700000000000000000"' in footer.group(1) and "<strong>" in footer.group(1)
    # Adjustments named, the clawback among them, the corrected run linked.
    header = page.split('id="run-adjustments">')[1].split("</td>")[0]
    assert 'data-exact="0.100000000000000000"' in header and "2 adjustment line(s)" in header
    assert "clawback" in header and 'data-exact="-0.200000000000000000"' in header
    corrections = page.split('id="run-corrections"')[1].split("</section>")[0]
    assert "true-up" in corrections and "clawback" in corrections
    assert f'href="/commissions/runs/{jan.run_id}"' in corrections

    # The run's CSV: the same lines, the same sum.
    text = viewer_client.get(f"/commissions/runs/{feb.run_id}/lines.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == FEB_LINES
    assert sum(D(r["commission_amount_native"]) for r in rows) == FEB_TOTAL

    # The API.
    headers = bearer(make_user("viewer"), "read")
    answer = viewer_client.get(f"/api/v1/runs/{feb.run_id}", headers=headers).get_json()
    [token] = answer["token_totals"]
    assert D(token["total_amount_native"]) == FEB_TOTAL
    assert D(token["commission_amount_native"]) == D("0.6")
    assert (token["adjustment_count"], D(token["adjustment_amount_native"])) == (2, D("0.1"))
    [correction] = answer["corrections"]
    assert correction["run_id"] == str(jan.run_id)
    assert D(correction["clawback_amount_native"]) == D("-0.2")

    # The command line.
    status = runner.invoke(
        args=["commissions", "status", "Acme Wallet", "--from", "2025-02-01", "--to", "2025-02-28"]
    ).output
    assert "1 line(s), commission 0.6 SOL, adjustments 0.1 SOL (2 line(s))" in status
    assert "of which clawback -0.2 SOL (1 line(s)); total 0.7 SOL over 3 line(s)" in status
    assert f"adjusts run {jan.run_id} (approved" in status

    # The home page: February's cell adds up each run's total (the page shows February as
    # "no data", Acme ETH having none there; January's cell shows its totals).
    [(_, cells)] = [
        (p, c)
        for p, c in month_overview(last_months(2, date(2025, 2, 1))).rows
        if p.partner_id == feb.partner_id
    ]
    january, february = cells
    assert [(chain.token_symbol, amount) for chain, amount in february.totals] == [
        ("SOL", FEB_TOTAL)
    ]
    home = viewer_client.get("/", query_string={"until": "2025-02", "months": 2})
    cell = re.search(r'data-month="2025-01".*?</td>', home.get_data(as_text=True), re.S)
    shown = re.findall(r'data-exact="([^"]+)" data-token="(\w+)"', cell.group(0))
    assert {(token, D(amount)) for amount, token in shown} == {
        ("SOL", D("1.4")),
        ("ETH", D("0.2")),
    }
    assert {(c.token_symbol, a) for c, a in january.totals} == {
        ("SOL", D("1.4")),
        ("ETH", D("0.2")),
    }

    # The range page: the committed run's total.
    query = {"partner": feb.partner_id, "date_from": "2025-02-01", "date_to": "2025-02-28"}
    review = viewer_client.get("/commissions/", query_string=query).get_data(as_text=True)
    state = review.split('id="committed-state"')[1].split("</div>")[0]
    assert f'data-total="{FEB_TOTAL}"' in state or f'data-exact="{exact}"' in state

    # The partner page's and the history's run lists.
    for url in (f"/partners/{feb.partner_id}", "/commissions/"):
        html = viewer_client.get(url).get_data(as_text=True)
        row = html.split(f"/commissions/runs/{feb.run_id}")[1].split("</tr>")[0]
        assert f'data-exact="{exact}"' in row, url


def test_a_run_whose_periods_a_later_commit_took_over_counts_the_lines_it_holds(app, viewer_client):
    """A commit of 3 Jan takes that day over from the 1-3 Jan run: the older run's total is
    then the lines of the two days it still holds, as its CSV; its figures as committed are
    named as such."""
    from tests.worlds import world_with_agreements
    from webapp.commissions import committing

    world = world_with_agreements()
    whole = committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    first = next(o.run for o in whole.outcomes if o.agreement.name == "Acme SOL")
    committing.commit(world.acme, date(2025, 1, 3), date(2025, 1, 3))
    db.session.expire_all()
    first = db.session.get(CommissionRun, first.run_id)
    count, commission, adjustments, _ = lines_one_by_one(first)
    total = run_total(first)
    assert (total.line_count, total.commission_amount_native) == (count, commission)
    assert adjustments == 0 and count == first.line_count - 4
    text = viewer_client.get(f"/commissions/runs/{first.run_id}/lines.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert (len(rows), sum(D(r["commission_amount_native"]) for r in rows)) == (count, commission)
    page = viewer_client.get(f"/commissions/runs/{first.run_id}").get_data(as_text=True)
    assert exact_in(page, "run-total-commission") == commission
    assert exact_in(page, "run-as-committed") == first.total_commission_native
    assert first.total_commission_native != commission


def test_a_month_inside_a_longer_run_shows_its_part_and_the_parts_add_up(app, runner, tmp_path):
    """January committed and approved, its rewards corrected, then February to March
    committed as one run with the true-up. That run, by hand: February PAID MEV 6 x 10% = 0.6,
    March PAID MEV 1 x 10% = 0.1, and January's adjustments +0.3 and -0.2, carried in the
    month it starts. The home page shows February 0.7 and March 0.1 of it (0.8 in all, its
    total), and January only January's own run."""
    from tests.worlds import JAN, ok, rewards_file, setup
    from tests.worlds import PAID as paid

    setup(runner, tmp_path)
    ok(runner, "commissions", "compute", *JAN, "--commit", "--as", "ann@example.com")
    ok(runner, "commissions", "approve", *JAN, "--as", "bob@example.com")
    corrected = rewards_file(
        tmp_path, "fixed.csv", [("2025-01", paid, "MEV", "13"), ("2025-01", paid, "REWARDS", "4")]
    )
    ok(runner, "import", "staker-rewards", corrected, "--provider", "jito", "--replace")
    ok(
        runner,
        *("commissions", "compute", "Acme Wallet", "--from", "2025-02-01", "--to", "2025-03-31"),
        *("--commit", "--true-up", "--as", "ann@example.com"),
    )
    db.session.expire_all()
    [spring] = db.session.scalars(
        select(CommissionRun).where(
            CommissionRun.date_from == date(2025, 2, 1),
            CommissionRun.status == "committed",
            CommissionRun.line_count > 0,
        )
    ).all()
    assert run_total(spring).total_native == D("0.8")

    [(_, cells)] = month_overview(last_months(3, date(2025, 3, 1))).rows
    january, february, march = cells
    parts = {
        cell.month.label: [(c.token_symbol, a, r.run_id) for c, a, r in cell.shares]
        for cell in cells
    }
    assert parts == {
        "2025-01": [],
        "2025-02": [("SOL", D("0.7"), spring.run_id)],
        "2025-03": [("SOL", D("0.1"), spring.run_id)],
    }
    assert {(c.token_symbol, a) for c, a in january.totals} == {
        ("SOL", D("1.4")),
        ("ETH", D("0.2")),
    }
    assert february.totals == [] and march.totals == []

    # The cell as the home page draws it (here its state is "no data", Acme ETH having no
    # February or March data, so the page shows that state; the cell's own drawing is held).
    for cell, amount in ((february, "0.7"), (march, "0.1")):
        cell.__dict__["state"] = "committed"
        with app.test_request_context("/"):
            html = render_template("main/partial/overview_cell.html", cell=cell)
        share = re.search(r'class="cell-share" data-run="([^"]+)">(.*?)</small></span>', html, re.S)
        assert share.group(1) == str(spring.run_id)
        assert f'data-exact="{exact_text(D(amount))}" data-token="SOL"' in share.group(2)
        assert re.sub(r"<[^>]+>", "", share.group(2)).endswith(
            "this month of the run 2025-02-01 to 2025-03-31"
        )


def test_a_month_of_a_run_holding_none_of_its_periods_says_so(app, runner, tmp_path):
    """Acme SOL committed from March to May. By hand: March PAID MEV 1 x 10% = 0.1; April has
    a period and no reward rows, so its part is zero; May has no period at all, so it has no
    part, and the page says that rather than showing nothing beside "committed"."""
    from tests.worlds import ok, setup

    setup(runner, tmp_path)
    ok(
        runner,
        *("commissions", "compute", "Acme Wallet", "--from", "2025-03-01", "--to", "2025-05-31"),
        *("--commit", "--as", "ann@example.com"),
    )
    db.session.expire_all()
    [spring] = db.session.scalars(
        select(CommissionRun).where(
            CommissionRun.date_from == date(2025, 3, 1), CommissionRun.line_count > 0
        )
    ).all()
    [(_, cells)] = month_overview(last_months(3, date(2025, 5, 1))).rows
    parts = {
        cell.month.label: [(c.token_symbol, a, r.run_id) for c, a, r in cell.shares]
        for cell in cells
    }
    assert parts == {
        "2025-03": [("SOL", D("0.1"), spring.run_id)],
        "2025-04": [("SOL", D("0"), spring.run_id)],
        "2025-05": [("SOL", None, spring.run_id)],
    }
    may = cells[2]
    may.__dict__["state"] = "committed"
    with app.test_request_context("/"):
        html = render_template("main/partial/overview_cell.html", cell=may)
    share = re.search(r'class="cell-share" data-run="([^"]+)">(.*?)</small></span>', html, re.S)
    assert share.group(1) == str(spring.run_id)
    assert "data-exact" not in share.group(2)
    assert re.sub(r"<[^>]+>", "", share.group(2)) == (
        "no period of this month in the run 2025-03-01 to 2025-05-31"
    )
