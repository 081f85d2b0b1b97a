"""No input becomes a server error: every route of the url map, GET and POST, with junk in
every parameter; and property-based tests that throw random text at the forms, the query
strings and the uploads. A refused request changes nothing in the database."""

import io
import re
import string
import uuid
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.test_commissions import add_agreements, build_world
from webapp import create_app
from webapp.commissions import committing
from webapp.extensions import db
from webapp.models import Agreement, AgreementRule, CommissionRun, PartnerWallet, StagingPayload

#: Text that broke or could break something: NUL and control characters, long strings, markup,
#: spreadsheet formulas, SQL, non-ASCII digits, calendar edges, numbers beyond any integer.
JUNK = [
    "\x00",
    "a\x00b",
    "\x01\x02\x07\x1b\x7f",
    "\r\n\t",
    "x" * 5000,
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    '=HYPERLINK("http://evil")',
    "+1+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "'; DROP TABLE partners; --",
    "' OR '1'='1",
    "٣٤٥",
    "１２",
    "-1",
    "999999999999999999999999",
    "1e400",
    "0001-01-01",
    "9999-12-31",
    "2025-02-30",
    "../../etc/passwd",
    "{{ 7 * 7 }}",
    "\u202e\ufeff\u200b",
    "🙂" * 50,
    "",
]

#: Every parameter name a form or a query string of the app reads.
PARAMS = [
    "q",
    "chain",
    "chain_id",
    "status",
    "sort",
    "active",
    "after",
    "before",
    "page",
    "outcome",
    "wallet",
    "partner",
    "partner_id",
    "date_from",
    "date_to",
    "name",
    "contact",
    "wallet_address",
    "introduced_date",
    "notes",
    "kind",
    "provider",
    "replace",
    "revenue_component",
    "validator_key",
    "commission_rate_bps",
    "rate_exec_fees",
    "rate_mev",
    "rate_rewards",
    "effective_from",
    "effective_to",
    "wallet_attribution_enabled",
    "token_symbol",
    "display_decimals",
    "address_format",
    "next",
]

SKIP = {"static", "auth.logout"}


def _rules():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.endpoint not in SKIP),
        key=lambda rule: (rule.rule, rule.endpoint),
    )


RULES = _rules()


@pytest.fixture
def world(app, tmp_path):
    """Canonical data, agreements, a committed run, a payload: a real id for every URL."""
    app.instance_path = str(tmp_path / "instance")
    world = build_world()
    add_agreements(world.acme)
    committing.commit(world.acme, date(2025, 1, 1), date(2025, 1, 3))
    agreement = db.session.scalars(select(Agreement).order_by(Agreement.name)).first()
    return {
        "partner_id": str(world.acme.partner_id),
        "wallet_id": str(
            db.session.scalars(
                select(PartnerWallet.wallet_id).where(
                    PartnerWallet.partner_id == world.acme.partner_id
                )
            ).first()
        ),
        "agreement_id": str(agreement.agreement_id),
        "rule_id": str(
            db.session.scalars(
                select(AgreementRule.rule_id).where(
                    AgreementRule.agreement_id == agreement.agreement_id
                )
            ).first()
        ),
        "run_id": str(db.session.scalars(select(CommissionRun.run_id)).first()),
        "payload_id": str(db.session.scalars(select(StagingPayload.payload_id)).first()),
        "token": "A" * 22,
    }


def _url(rule, ids) -> str:
    path = rule.rule
    for name in rule.arguments:
        value = ids.get(name, str(uuid.uuid4()))
        path = re.sub(rf"<(?:\w+:)?{name}>", value.replace("\\", "\\\\"), path)
    return path


def snapshot() -> dict[str, int]:
    """Rows per table: a refused request must leave every count (and the audit log) as it was."""
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
        if table.name != "login_failures"
    }


def _check(client, method, url, data, before):
    """Send one request; no 5xx, and a refusal changes nothing."""
    if method == "GET":
        response = client.get(url, query_string=data)
    else:
        response = client.post(url, data=data)
    assert response.status_code < 500, (method, url, data, response.status_code)
    db.session.expire_all()
    if response.status_code >= 400:
        assert snapshot() == before, (method, url, data, response.status_code)
        return before
    return snapshot()


@pytest.mark.parametrize("rule", RULES, ids=[f"{r.endpoint}:{r.rule}" for r in RULES])
def test_every_route_survives_junk_in_every_parameter(world, admin_client, rule):
    url = _url(rule, world)
    before = snapshot()
    for method in sorted(rule.methods & {"GET", "POST"}):
        for junk in JUNK:
            data = {name: junk for name in PARAMS}
            before = _check(admin_client, method, url, data, before)
        # Junk in the URL itself, where the rule takes a value.
        for name in rule.arguments:
            for junk in ("x\x00", "%00", "9" * 40, "../x", "<b>"):
                before = _check(admin_client, method, _url(rule, {**world, name: junk}), {}, before)


def test_the_url_map_walk_covers_every_route():
    names = {rule.endpoint for rule in RULES}
    assert {"partners.create", "wallets.upload", "commissions.export", "imports.preview"} <= names


# ---- Property-based: random text at forms, queries and uploads ---------------------------

TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=31), max_size=20),
    st.sampled_from(JUNK),
    st.builds(
        lambda s, n: s * n, st.sampled_from(["a", "\x00", "=", "'", "<"]), st.integers(1, 3000)
    ),
    st.text(alphabet=string.digits + "٣٤٥１２.-+eE", max_size=30),
)
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

FORMS = [
    ("/partners/new", ("name", "contact")),
    ("/partners/{partner_id}/edit", ("name", "contact")),
    ("/partners/{partner_id}/wallets", ("wallet_address", "chain_id", "introduced_date", "notes")),
    ("/partners/{partner_id}/wallets/check", ("wallet_address", "chain_id")),
    ("/partners/{partner_id}/wallets/{wallet_id}", ("introduced_date", "notes", "is_active")),
    (
        "/agreements/new",
        ("partner_id", "chain_id", "name", "effective_from", "effective_to", "rate_mev"),
    ),
    (
        "/agreements/{agreement_id}/rules",
        ("revenue_component", "validator_key", "commission_rate_bps"),
    ),
    (
        "/agreements/{agreement_id}/rules/{rule_id}",
        ("revenue_component", "validator_key", "commission_rate_bps"),
    ),
    ("/commissions/commit", ("partner", "date_from", "date_to")),
    ("/chains/", ("chain_id", "name", "token_symbol", "display_decimals", "address_format")),
]


@FUZZ
@given(form=st.sampled_from(FORMS), values=st.lists(TEXT, min_size=6, max_size=6))
def test_random_text_in_any_form_field_never_fails_the_server(world, admin_client, form, values):
    path, fields = form
    url = path.format(**world)
    _check(admin_client, "POST", url, dict(zip(fields, values, strict=False)), snapshot())


QUERIES = [
    ("/partners/", ("q", "page")),
    ("/partners/{partner_id}/wallets", ("q", "chain", "status", "sort", "after", "before")),
    ("/commissions/", ("partner", "date_from", "date_to")),
    ("/commissions/export.csv", ("partner", "date_from", "date_to")),
    ("/commissions/runs/{run_id}", ("wallet", "page")),
    ("/imports/", ("page", "chain")),
    ("/imports/payloads/{payload_id}", ("page",)),
    ("/agreements/", ("partner_id", "chain_id", "active")),
]


@FUZZ
@given(query=st.sampled_from(QUERIES), values=st.lists(TEXT, min_size=6, max_size=6))
def test_random_text_in_any_query_parameter_never_fails_the_server(
    world, admin_client, query, values
):
    path, names = query
    params = dict(zip(names, values, strict=False))
    response = admin_client.get(path.format(**world), query_string=params)
    assert response.status_code < 500, (path, params)


def _csv_line(cells) -> str:
    return ",".join('"' + cell.replace('"', '""') + '"' for cell in cells) + "\n"


@FUZZ
@given(
    cells=st.lists(st.lists(TEXT, min_size=4, max_size=4), min_size=1, max_size=4),
    raw=st.binary(max_size=200),
    use_raw=st.booleans(),
)
def test_random_wallet_files_never_fail_the_server(world, admin_client, cells, raw, use_raw):
    body = b"wallet_address,chain_id,introduced_date,notes\n" + (
        raw if use_raw else "".join(_csv_line(row) for row in cells).encode("utf-8", "replace")
    )
    url = "/partners/{partner_id}/wallets/uploads".format(**world)
    before = snapshot()
    response = admin_client.post(
        url,
        data={"file": (io.BytesIO(body), "w.csv"), "chain_id": ""},
        content_type="multipart/form-data",
        headers={"HX-Request": "true"},
    )
    assert response.status_code < 500
    # A preview stores nothing but the staged file outside the database.
    db.session.expire_all()
    assert snapshot() == before


@FUZZ
@given(
    kind=st.sampled_from(["periods", "validator-revenue", "staker-rewards", "stake-events"]),
    cells=st.lists(st.lists(TEXT, min_size=6, max_size=6), min_size=1, max_size=3),
)
def test_random_import_files_never_fail_the_server(world, admin_client, kind, cells):
    header = {
        "periods": "chain_id,label,start_time,end_time",
        "validator-revenue": "chain_id,period,validator_key,revenue_component,amount_native",
        "staker-rewards": "chain_id,period,validator_key,staker_address,revenue_component,"
        "reward_amount_native",
        "stake-events": "chain_id,validator_key,staker_address,event_type,stake_amount_native,"
        "event_timestamp",
    }[kind]
    body = header + "\n" + "".join(_csv_line(row) for row in cells)
    before = snapshot()
    response = admin_client.post(
        "/imports/preview",
        data={
            "file": (io.BytesIO(body.encode("utf-8", "replace")), "f.csv"),
            "kind": kind,
            "provider": "fuzz",
        },
        content_type="multipart/form-data",
        headers={"HX-Request": "true"},
    )
    assert response.status_code < 500
    db.session.expire_all()
    assert snapshot() == before
