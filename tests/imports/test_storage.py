"""The storage layer: one bulk writer on both databases, the upload store, providers."""

import io
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests import factories
from tests.conftest import is_postgres
from webapp.extensions import db
from webapp.models import AuditLog, PartnerWallet, Provider
from webapp.storage import (
    UploadMissing,
    UploadStore,
    bulk_insert,
    bulk_writer,
    provider_named,
    violates,
)
from webapp.storage.bulk import COPY_CHUNK, INSERT_BATCH

WALLET_COLUMNS = ("partner_id", "chain_id", "wallet_address", "introduced_date", "notes")


@pytest.fixture
def partner(app):
    return factories.partner("Acme Wallet", "solana")


def stored_wallets() -> list[tuple]:
    return [
        tuple(row)
        for row in db.session.execute(
            select(
                PartnerWallet.wallet_id,
                PartnerWallet.partner_id,
                PartnerWallet.wallet_address,
                PartnerWallet.introduced_date,
                PartnerWallet.notes,
                PartnerWallet.is_active,
            ).order_by(PartnerWallet.wallet_address)
        )
    ]


#: More than two COPY chunks on PostgreSQL, more than two INSERT batches on SQLite.
ROWS = 2 * COPY_CHUNK + 25_003 if is_postgres() else 2 * INSERT_BATCH + 3


def test_bulk_insert_makes_ascending_ids_and_adds_constants(partner):
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows = [
        (str(partner.partner_id), "solana", f"addr{n:06d}", date(2024, 1, 1 + n % 28), None)
        if n % 2
        else (str(partner.partner_id), "solana", f"addr{n:06d}", date(2024, 1, 1 + n % 28), "x")
        for n in range(ROWS)
    ]
    written = bulk_insert(
        db.session,
        PartnerWallet.__table__,
        WALLET_COLUMNS,
        reversed(rows),
        new_ids=True,
        constants={"is_active": True, "created_at": now, "updated_at": now},
    )
    db.session.commit()
    assert written == ROWS
    stored = stored_wallets()
    assert [row[2] for row in stored] == [f"addr{n:06d}" for n in range(ROWS)]
    assert {row[1] for row in stored} == {partner.partner_id}
    assert stored[7][3:] == (date(2024, 1, 8), None, True)
    assert stored[8][3:] == (date(2024, 1, 9), "x", True)
    # Ids were handed out in the order rows were written (reversed), one counter apart.
    ids_in_write_order = [row[0].int for row in reversed(stored)]
    assert ids_in_write_order == list(range(ids_in_write_order[0], ids_in_write_order[0] + ROWS))


@pytest.mark.parametrize("form", ["uuid", "text", "bytes"])
def test_a_uuid_column_takes_a_uuid_its_text_or_its_bytes(partner, form):
    value = {
        "uuid": partner.partner_id,
        "text": str(partner.partner_id),
        "bytes": partner.partner_id.bytes,
    }[form]
    now = datetime.now(UTC)
    bulk_insert(
        db.session,
        PartnerWallet.__table__,
        ("wallet_id", *WALLET_COLUMNS, "is_active", "created_at", "updated_at"),
        [(value, value, "solana", "a1", date(2024, 1, 1), None, False, now, now)],
    )
    db.session.commit()
    assert stored_wallets() == [
        (partner.partner_id, partner.partner_id, "a1", date(2024, 1, 1), None, False)
    ]


def test_bulk_writer_sorts_each_chunk_and_keeps_amounts_exact(app):
    from webapp.models import CanonicalPeriod, StagingPayload

    factories.chain("solana")
    provider, _ = provider_named("jito")
    payload = StagingPayload(provider_id=provider.provider_id, kind="periods", file_name="p.csv")
    payload.sha256 = "0" * 64
    db.session.add(payload)
    db.session.flush()
    lineage = {
        "source_provider_id": provider.provider_id,
        "source_payload_id": payload.payload_id,
        "normalized_at": datetime(2025, 1, 1, tzinfo=UTC),
    }
    with bulk_writer(
        db.session,
        CanonicalPeriod.__table__,
        ("chain_id", "label", "start_time", "end_time"),
        new_ids=True,
        constants=lineage,
        sort_key=lambda row: row[1],
    ) as writer:
        for label in ("c", "a", "b"):
            day = {"a": 1, "b": 2, "c": 3}[label]
            writer.write(
                (
                    "solana",
                    label,
                    datetime(2025, 1, day, tzinfo=UTC),
                    datetime(2025, 1, day + 1, tzinfo=UTC),
                )
            )
    db.session.commit()
    rows = db.session.execute(
        select(CanonicalPeriod.label, CanonicalPeriod.period_id).order_by(CanonicalPeriod.period_id)
    ).all()
    # Sorted before the ids were given: ascending ids follow the sort key.
    assert [label for label, _ in rows] == ["a", "b", "c"]
    assert writer.written == 3

    from webapp.models import CanonicalValidatorRevenue

    period_id = rows[0][1]
    amount = Decimal("123456789012345678.123456789012345678")
    bulk_insert(
        db.session,
        CanonicalValidatorRevenue.__table__,
        ("chain_id", "period_id", "validator_key", "revenue_component", "amount_native"),
        [("solana", str(period_id), "V1", "MEV", amount)],
        new_ids=True,
        constants=lineage,
    )
    db.session.commit()
    assert db.session.scalar(select(CanonicalValidatorRevenue.amount_native)) == amount


def test_a_bulk_write_that_breaks_a_constraint_raises_integrity_error(partner):
    now = datetime.now(UTC)
    row = (partner.partner_id, "solana", "same", date(2024, 1, 1), None)
    with pytest.raises(IntegrityError) as caught:
        bulk_insert(
            db.session,
            PartnerWallet.__table__,
            WALLET_COLUMNS,
            [row, row],
            new_ids=True,
            constants={"is_active": True, "created_at": now, "updated_at": now},
        )
    assert violates(caught.value, PartnerWallet.__table__, "uq_partner_wallets_chain_address")
    assert not violates(caught.value, PartnerWallet.__table__, "uq_something_else")
    db.session.rollback()
    assert stored_wallets() == []


def test_provider_named_creates_once_ignoring_case_and_audits_the_creation(app):
    first, created = provider_named("Jito")
    again, created_again = provider_named("  jito ")
    db.session.commit()
    assert (created, created_again) == (True, False)
    assert again.provider_id == first.provider_id
    assert db.session.scalar(select(func.count()).select_from(Provider)) == 1
    entries = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "provider")).all()
    assert [(e.action, json.loads(e.after)) for e in entries] == [("create", {"name": "Jito"})]


def test_upload_store_keeps_bytes_for_their_owner_only(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    store = UploadStore("test", owner_word="partner")
    upload = store.keep(io.BytesIO(b"a,b\n1,2\n"), "../dir/file.csv", "owner-1", kind="x")
    store.save_part(upload, "rows", [[1, "ok"]])
    loaded = store.load(upload.token, "owner-1")
    assert (loaded.file_name, loaded.meta) == ("file.csv", {"kind": "x"})
    assert store.read(loaded) == b"a,b\n1,2\n"
    assert store.load_part(loaded, "rows") == [[1, "ok"]]
    with pytest.raises(UploadMissing, match="another partner"):
        store.load(upload.token, "owner-2")
    with pytest.raises(UploadMissing):
        store.load("../../etc/passwd", "owner-1")
    with open(store.path(loaded), "ab") as out:
        out.write(b"3,4\n")
    with pytest.raises(UploadMissing, match="changed since its preview"):
        store.read(loaded)
    store.discard(upload.token)
    with pytest.raises(UploadMissing):
        store.load(upload.token, "owner-1")
    assert list((tmp_path / "instance" / "test-uploads").iterdir()) == []


def test_ids_of_two_writes_do_not_collide(partner):
    now = datetime.now(UTC)
    for prefix in ("a", "b"):
        bulk_insert(
            db.session,
            PartnerWallet.__table__,
            WALLET_COLUMNS,
            [
                (partner.partner_id, "solana", f"{prefix}{n}", date(2024, 1, 1), None)
                for n in range(5)
            ],
            new_ids=True,
            constants={"is_active": True, "created_at": now, "updated_at": now},
        )
    db.session.commit()
    assert len({row[0] for row in stored_wallets()}) == 10
    assert all(isinstance(row[0], uuid.UUID) for row in stored_wallets())
