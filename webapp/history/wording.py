"""The history in words: each entry as a sentence, each value as the pages show it.

Ids become names with links (one query per kind of id on a page), booleans read yes or no,
lists read as lists, rates as "MEV 600 bps", an empty value as "none". The CSV keeps the
recorded values exactly; this is for reading only.
"""

import re
import uuid
from contextlib import suppress
from dataclasses import dataclass

from flask import url_for
from markupsafe import Markup, escape
from sqlalchemy import select

from webapp.extensions import db
from webapp.labels import LABELS, format_count
from webapp.models import Agreement, Chain, CommissionRun, Partner, StagingPayload
from webapp.web import short_key

#: What each recorded field is called on screen (the forms' labels first).
FIELD_LABELS = {
    **LABELS,
    "name": "Name",
    "contact": "Contact",
    "notes": "Notes",
    "status": "Status",
    "rules": "Rates",
    "rule": "Rate",
    "result_of": "Replaces run",
    "superseded_by": "Replaced by run",
    "locked_periods": "Periods locked",
    "reason": "Reason",
    "payout_reference": "Payout reference",
    "paid_on": "Paid on",
    "kind": "Kind of data",
    "file_name": "File",
    "sha256": "SHA-256",
    "row_count": "Rows",
    "provider": "Provider",
    "payload_id": "Import",
    "added": "Wallets added",
    "unchanged": "Wallets already there",
    "email": "Email",
    "role": "Role",
    "token_symbol": "Token",
    "display_decimals": "Display decimals",
    "address_format": "Address format",
}

#: The verb of each action in a sentence ("… changed the partner Acme").
VERBS = {
    "create": "created",
    "update": "changed",
    "activate": "activated",
    "deactivate": "deactivated",
    "import": "imported",
    "replace": "replaced",
    "set_method": "switched the method of",
    "update_rule": "changed a rate of",
    "add_rule": "added a rate to",
    "remove_rule": "removed a rate from",
    "commit": "committed",
    "supersede": "superseded",
    "approve": "approved",
    "reopen": "reopened",
    "pay": "recorded the payment of",
}

#: Fields whose value is the id of a run, a partner, an import or a chain.
RUN_FIELDS = {"result_of", "superseded_by"}
_RULE = re.compile(r"^([A-Z_]+)=([0-9]+)(?:@(.+))?$")
_INSTANT = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(?:\+00:00|Z)?$")
NONE = Markup('<span class="empty">none</span>')


@dataclass
class Field:
    label: str
    before: Markup
    after: Markup
    changed: bool
    #: The field had a value before (a creation has none to strike through).
    had_before: bool


@dataclass
class Words:
    """An entry as the history shows it: its sentence and its fields."""

    sentence: Markup
    fields: list[Field]


def _uuid(value) -> uuid.UUID | None:
    with suppress(ValueError, TypeError, AttributeError):
        return uuid.UUID(str(value))
    return None


def run_names(run_ids) -> dict[str, str]:
    """ "Agreement, first day to last day" of each run, in one query."""
    if not run_ids:
        return {}
    rows = db.session.execute(
        select(CommissionRun.run_id, Agreement.name, CommissionRun.date_from, CommissionRun.date_to)
        .join(Agreement, Agreement.agreement_id == CommissionRun.agreement_id)
        .where(CommissionRun.run_id.in_(run_ids))
    )
    return {str(key): f"{name}, {start} to {end}" for key, name, start, end in rows}


class References:
    """Names and links of the ids the fields of a page of entries name."""

    def __init__(self, entries):
        wanted: dict[str, set] = {"partner": set(), "run": set(), "payload": set()}
        chains = set()
        for entry in entries:
            for change in entry.changes:
                for value in (change.before, change.after):
                    key = _uuid(value)
                    if change.name == "partner_id" and key:
                        wanted["partner"].add(key)
                    elif change.name in RUN_FIELDS and key:
                        wanted["run"].add(key)
                    elif change.name == "payload_id" and key:
                        wanted["payload"].add(key)
                    elif change.name == "chain_id" and value:
                        chains.add(str(value))
        self.links: dict[tuple[str, str], tuple[str, str]] = {}
        if wanted["partner"]:
            for key, name in db.session.execute(
                select(Partner.partner_id, Partner.name).where(
                    Partner.partner_id.in_(wanted["partner"])
                )
            ):
                self.links["partner_id", str(key)] = (
                    name,
                    url_for("partners.detail", partner_id=key),
                )
        for key, name in run_names(wanted["run"]).items():
            link = url_for("commissions.run_detail", run_id=key)
            for field in RUN_FIELDS:
                self.links[field, key] = (name, link)
        if wanted["payload"]:
            for key, name in db.session.execute(
                select(StagingPayload.payload_id, StagingPayload.file_name).where(
                    StagingPayload.payload_id.in_(wanted["payload"])
                )
            ):
                self.links["payload_id", str(key)] = (
                    name or str(key),
                    url_for("imports.payload_detail", payload_id=key),
                )
        if chains:
            for key, name in db.session.execute(
                select(Chain.chain_id, Chain.name).where(Chain.chain_id.in_(chains))
            ):
                self.links["chain_id", key] = (name, None)

    def get(self, field: str, value) -> tuple[str, str | None] | None:
        return self.links.get((field, str(value)))


def rule_words(spec) -> Markup:
    """A recorded rate ("MEV=600@Key") as the agreement page shows it."""
    found = _RULE.match(str(spec))
    if not found:
        return Markup(escape(spec))
    component, bps, validator = found.groups()
    words = Markup("{} {} bps").format(component, format_count(int(bps)))
    if validator:
        return words + Markup(" on validator ") + short_key(validator)
    return words + Markup(" on every validator")


def show(field: str, value, refs: References) -> Markup:
    """One recorded value as the pages show it."""
    if value is None or value == "" or value == []:
        return NONE
    if isinstance(value, bool):
        return Markup("yes" if value else "no")
    if isinstance(value, list):
        items = Markup("").join(Markup("<li>{}</li>").format(show(field, v, refs)) for v in value)
        return Markup('<ul class="audit-list">{}</ul>').format(items)
    if isinstance(value, dict):
        items = Markup("").join(
            Markup("<li>{}: {}</li>").format(_label(k), show(k, v, refs))
            for k, v in sorted(value.items())
        )
        return Markup('<ul class="audit-list">{}</ul>').format(items)
    known = refs.get(field, value)
    if known:
        name, link = known
        if link:
            return Markup('<a href="{}">{}</a>').format(link, name)
        return Markup(escape(name))
    if field in ("rule", "rules"):
        return rule_words(value)
    if field == "commission_rate_bps":
        return Markup("{} bps").format(format_count(value))
    if isinstance(value, int):
        return Markup(format_count(value))
    text = str(value)
    instant = _INSTANT.match(text)
    if instant:
        return Markup("{} {} UTC").format(*instant.groups())
    if _uuid(text) or field in ("sha256", "wallet_address", "validator_key"):
        return short_key(text)
    return Markup(escape(text))


def _label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def sentence(entry, name: str, link: str | None) -> Markup:
    """ "ann@example.com changed the partner Acme." with the entity's name linked."""
    who = entry.user_email or "The command line"
    action = entry.action.rpartition(".")[2]
    verb = VERBS.get(action, action.replace("_", " "))
    noun = entry.entity_label.lower()
    if link:
        shown = Markup('<a href="{}">{}</a>').format(link, name)
    else:
        shown = short_key(name) if _uuid(name) or len(name) > 40 else escape(name)
    return Markup("{} {} the {} {}.").format(who, verb, noun, shown)


def present(entries, described: dict) -> dict[str, Words]:
    """Each entry's sentence and fields, by audit id."""
    refs = References(entries)
    words = {}
    for entry in entries:
        name, link = described[str(entry.audit_id)]
        fields = [
            Field(
                _label(change.name),
                show(change.name, change.before, refs),
                show(change.name, change.after, refs),
                change.changed,
                change.before is not None,
            )
            for change in entry.changes
        ]
        words[str(entry.audit_id)] = Words(sentence(entry, name, link), fields)
    return words
