"""Period ids leave the database in one text form, the usual text of a UUID, on either
database: a period in scope, the rows the engine reads of it, its lines and its digest all
name it by that text, so a commit compares them without converting."""

from datetime import date

from sqlalchemy import select

from tests import factories
from tests.worlds import at, build_world, world_with_agreements
from webapp.commissions import inputs
from webapp.commissions.fingerprints import fingerprint
from webapp.commissions.terms import terms_of
from webapp.db_types import uuid_text
from webapp.extensions import db
from webapp.models import CanonicalPeriod

JANUARY = (date(2025, 1, 1), date(2025, 1, 3))


def test_uuid_text_is_the_usual_text_of_a_uuid(app):
    world = world_with_agreements()
    expected = {str(p.period_id) for p in world.periods}
    P = CanonicalPeriod
    got = set(
        db.session.scalars(
            select(uuid_text(P.period_id)).where(
                P.period_id.in_(p.period_id for p in world.periods)
            )
        )
    )
    assert got == expected
    # Dashed lower-case hex: 8-4-4-4-12.
    assert all([len(part) for part in key.split("-")] == [8, 4, 4, 4, 12] for key in got)
    assert all(key == key.lower() for key in got)


def test_scope_rows_lines_and_digests_name_a_period_alike(app):
    world = world_with_agreements()
    expected = [str(p.period_id) for p in world.periods]
    scope = inputs.scope_of(world.solana, *JANUARY)
    assert [p.period_id for p in scope] == expected
    computed = inputs.compute_agreement(world.solana, *JANUARY)
    assert {line.period_id for line in computed.result.lines} == set(expected)
    assert [p.period_id for p in computed.result.periods] == expected
    prints = fingerprint(world.acme.partner_id, "solana", terms_of(world.solana), scope)
    assert sorted(prints.digests) == sorted(expected)
    # The engine's rows of the periods are found by the periods' own ids: none is empty.
    assert computed.periods_without_data == []


def test_scope_payloads_are_those_of_the_periods_in_scope(app):
    """The chain's periods of the whole range are read, and the rules keep those within the
    agreement's dates: the periods' payloads in the lineage are those of the kept periods
    only, not of the periods read and left out."""
    world = build_world()
    late = factories.agreement(
        world.acme, "MEV=1000", name="Acme SOL late", effective_from=date(2025, 1, 4)
    )
    later_file = factories.payload(factories.provider("later"), "periods")
    fourth = factories.period(later_file, "704", at(4), at(5))
    db.session.commit()
    scope = inputs.scope_of(late, date(2025, 1, 1), date(2025, 1, 4))
    assert [p.label for p in scope] == ["704"]
    computed = inputs.compute_agreement(late, date(2025, 1, 1), date(2025, 1, 4))
    assert [p.period_id for p in computed.result.periods] == [str(fourth.period_id)]
    # 701 to 703 were read with 704, from another file: that file is not in the lineage.
    assert computed.lineage["periods"] == [str(later_file.payload_id)]
    # Before the agreement's dates: nothing in scope, and nothing read for it.
    assert inputs.scope_of(late, date(2025, 1, 1), date(2025, 1, 3)) == []
    assert inputs.compute_agreement(late, date(2025, 1, 1), date(2025, 1, 3)).lineage == {}
