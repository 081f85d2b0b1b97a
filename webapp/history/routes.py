"""The audit history page, its next pages for htmx, and its CSV download."""

import uuid
from contextlib import suppress

from flask import request, url_for
from sqlalchemy import select

from webapp.extensions import db
from webapp.history import bp, queries, wording
from webapp.models import Agreement, Partner, PartnerWallet
from webapp.web import csv_download, render

#: Where an entry's entity lives on screen: endpoint and the name of its id argument.
ENTITY_PAGES = {
    "partner": ("partners.detail", "partner_id"),
    "partner_wallets": ("wallets.list_partner_wallets", "partner_id"),
    "agreement": ("agreements.detail", "agreement_id"),
    "commission_run": ("commissions.run_detail", "run_id"),
    "staging_payload": ("imports.payload_detail", "payload_id"),
}


def _uuids(entries, entity_type) -> list[uuid.UUID]:
    keys = []
    for entry in entries:
        if entry.entity_type == entity_type:
            with suppress(ValueError):
                keys.append(uuid.UUID(entry.entity_id))
    return keys


def describe(entries) -> dict[str, tuple[str, str | None]]:
    """(name, link) of each entry's entity, in one query per entity type on the page."""
    names: dict[str, str] = {}
    wallet_partner: dict[str, str] = {}
    lookups = (
        ("partner", select(Partner.partner_id, Partner.name), Partner.partner_id),
        ("partner_wallets", select(Partner.partner_id, Partner.name), Partner.partner_id),
        ("agreement", select(Agreement.agreement_id, Agreement.name), Agreement.agreement_id),
    )
    for entity_type, stmt, key in lookups:
        ids = _uuids(entries, entity_type)
        if ids:
            for entity_id, name in db.session.execute(stmt.where(key.in_(ids))):
                names[str(entity_id)] = name
    names.update(wording.run_names(_uuids(entries, "commission_run")))
    wallet_ids = _uuids(entries, "partner_wallet")
    if wallet_ids:
        rows = db.session.execute(
            select(
                PartnerWallet.wallet_id, PartnerWallet.wallet_address, PartnerWallet.partner_id
            ).where(PartnerWallet.wallet_id.in_(wallet_ids))
        )
        for wallet_id, address, partner_id in rows:
            names[str(wallet_id)] = address
            wallet_partner[str(wallet_id)] = str(partner_id)
    described = {}
    for entry in entries:
        name = names.get(entry.entity_id, entry.entity_id)
        link = None
        if entry.entity_type in ENTITY_PAGES and entry.entity_id in names:
            endpoint, argument = ENTITY_PAGES[entry.entity_type]
            link = url_for(endpoint, **{argument: entry.entity_id})
        elif entry.entity_type == "partner_wallet" and entry.entity_id in wallet_partner:
            link = url_for(
                "wallets.list_partner_wallets",
                partner_id=wallet_partner[entry.entity_id],
                q=name,
            )
        described[str(entry.audit_id)] = (name, link)
    return described


@bp.route("/")
def history():
    """Every change, newest first, narrowed by entity, user and dates; next pages by cursor."""
    filters = queries.AuditFilters.from_args(request.args)
    entries, next_cursor = ([], None)
    if not filters.errors:
        entries, next_cursor = queries.page(filters, request.args.get("after", ""))
    described = describe(entries)
    return render(
        "audit/history.html",
        "audit/partial/entries.html",
        status=400 if filters.errors else 200,
        filters=filters,
        entries=entries,
        described=described,
        words=wording.present(entries, described),
        next_cursor=next_cursor,
        users=queries.users(),
        entity_types=queries.entity_types(),
    )


@bp.route("/history.csv")
def export():
    """The matching entries as CSV, one row per changed field, streamed; a byte-order mark
    first, so a spreadsheet reads the UTF-8 as UTF-8."""
    filters = queries.AuditFilters.from_args(request.args)
    if filters.errors:
        return history()
    return csv_download(queries.CSV_HEADER, queries.csv_rows(filters), "audit-history.csv")
