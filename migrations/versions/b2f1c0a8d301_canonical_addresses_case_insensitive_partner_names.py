"""canonical addresses, case-insensitive partner names

Addresses of partner wallets, staker rewards and stake events are brought to their chain's
canonical form (DOMAIN.md: `evm` in EIP-55 mixed case, `bech32` in lower case, `base58-32`
as given); a staker address that is not valid for its chain stays as it is. Partners get
`name_key`, their case-folded name, under a unique constraint.

Everything is checked before anything is written: when two wallets (of two partners, or of
one) are case variants of one address, when two staker reward rows become one, or when two
partner names differ only in letter case, the upgrade stops with a message naming both rows
and changes nothing.

The canonical forms are worked out here, not imported from the application, so that this
revision keeps doing what it did when the application changes.

Revision ID: b2f1c0a8d301
Revises: 8c5c50b4ddd8
Create Date: 2026-11-25 13:45:00.000000

"""

import string
from collections import defaultdict

import bech32
import sqlalchemy as sa
from alembic import op
from eth_hash.auto import keccak

# revision identifiers, used by Alembic.
revision = "b2f1c0a8d301"
down_revision = "8c5c50b4ddd8"
branch_labels = None
depends_on = None

#: Addresses per statement when rows are read or mapped in batches.
BATCH = 1000
#: Conflicts named in the message at most (the count says how many there are).
SHOWN = 20
NAME_KEY_LENGTH = 600
_HEX = set(string.hexdigits)

partners = sa.table(
    "partners",
    sa.column("partner_id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("name_key", sa.String()),
)
wallets = sa.table(
    "partner_wallets",
    sa.column("wallet_id", sa.Uuid()),
    sa.column("partner_id", sa.Uuid()),
    sa.column("chain_id", sa.String()),
    sa.column("wallet_address", sa.String()),
)
rewards = sa.table(
    "canonical_staker_rewards_detail",
    sa.column("chain_id", sa.String()),
    sa.column("period_id", sa.Uuid()),
    sa.column("validator_key", sa.String()),
    sa.column("staker_address", sa.String()),
    sa.column("revenue_component", sa.String()),
    sa.column("source_payload_id", sa.Uuid()),
)
events = sa.table(
    "canonical_stake_events", sa.column("chain_id", sa.String()), sa.column("staker_address")
)
periods = sa.table("canonical_periods", sa.column("period_id", sa.Uuid()), sa.column("label"))
payloads = sa.table(
    "staging_payloads", sa.column("payload_id", sa.Uuid()), sa.column("file_name", sa.String())
)


class MigrationConflict(RuntimeError):
    """Stored rows that would become one: nothing was changed."""


# ---- canonical forms, as DOMAIN.md gives them ---------------------------------------------


def _canonical_evm(address: str) -> str:
    body = address[2:]
    if not address.startswith("0x") or len(body) != 40 or not _HEX.issuperset(body):
        return address
    lower = body.lower()
    digest = keccak(lower.encode("ascii")).hex()
    checksummed = "".join(
        c.upper() if int(d, 16) >= 8 else c for c, d in zip(lower, digest, strict=False)
    )
    if body not in (lower, body.upper(), checksummed):
        return address  # mixed case with a wrong checksum: not a valid address
    return "0x" + checksummed


def _canonical_bech32(address: str, hrp: str) -> str:
    if len(address) > 90 or address not in (address.lower(), address.upper()):
        return address
    lowered = address.lower()
    found_hrp, words = bech32.bech32_decode(lowered)
    if found_hrp != hrp or words is None:
        return address
    payload = bech32.convertbits(words, 5, 8, False)
    if payload is None or len(payload) not in (20, 32):
        return address
    return lowered


def _canonicaliser(address_format: str):
    """canonical(address) for a format whose canonical form may differ from the stored text."""
    if address_format == "evm":
        return _canonical_evm
    if address_format.startswith("bech32:"):
        hrp = address_format.split(":", 1)[1]
        return lambda address: _canonical_bech32(address, hrp)
    return None


def _in_batches(values: list):
    for start in range(0, len(values), BATCH):
        yield values[start : start + BATCH]


# ---- checks (read only) -------------------------------------------------------------------


def _partner_name_keys(bind, problems: list[str]) -> list[dict]:
    by_key: dict[str, str] = {}
    keys = []
    for partner_id, name in bind.execute(
        sa.select(partners.c.partner_id, partners.c.name).order_by(partners.c.name)
    ):
        key = name.casefold()
        if key in by_key:
            problems.append(
                f"partners {by_key[key]!r} and {name!r} have one name in different letter "
                "case: rename one of them"
            )
        else:
            by_key[key] = name
        keys.append({"pid": partner_id, "key": key})
    return keys


def _wallet_changes(bind, canonicalisers: dict, problems: list[str]) -> list[dict]:
    """New addresses of the wallets whose stored text is not canonical."""
    if not canonicalisers:
        return []
    rows = bind.execute(
        sa.select(
            wallets.c.wallet_id, partners.c.name, wallets.c.chain_id, wallets.c.wallet_address
        )
        .join(partners, partners.c.partner_id == wallets.c.partner_id)
        .where(wallets.c.chain_id.in_(list(canonicalisers)))
        .order_by(wallets.c.chain_id, wallets.c.wallet_address)
    )
    holders: dict[tuple[str, str], list] = defaultdict(list)
    changes = []
    for wallet_id, partner_name, chain_id, address in rows:
        canonical = canonicalisers[chain_id](address)
        holders[(chain_id, canonical)].append((partner_name, address))
        if canonical != address:
            changes.append({"wid": wallet_id, "new": canonical})
    for (chain_id, canonical), held in holders.items():
        for (first_partner, first), (partner_name, address) in zip(held, held[1:], strict=False):
            problems.append(
                f"wallet {first} of partner {first_partner!r} and wallet {address} of partner "
                f"{partner_name!r} on {chain_id} are one address, {canonical}: "
                "deactivate and remove one of them first"
            )
    return changes


def _staker_changes(bind, table, canonicalisers: dict) -> list[dict]:
    """(chain_id, stored, canonical) of each distinct staker address that is not canonical."""
    if not canonicalisers:
        return []
    stored = bind.execute(
        sa.select(table.c.chain_id, table.c.staker_address)
        .where(table.c.chain_id.in_(list(canonicalisers)))
        .distinct()
    )
    changes = []
    for chain_id, address in stored:
        canonical = canonicalisers[chain_id](address)
        if canonical != address:
            changes.append({"chain_id": chain_id, "old": address, "new": canonical})
    return changes


def _wallet_owners(bind, addresses: set[tuple[str, str]], canonicalisers: dict) -> dict:
    """The partner owning each (chain_id, canonical address), where a wallet holds it."""
    owners = {}
    by_chain = defaultdict(list)
    for chain_id, address in addresses:
        by_chain[chain_id].append(address)
    for chain_id, texts in by_chain.items():
        rows = bind.execute(
            sa.select(wallets.c.wallet_address, partners.c.name)
            .join(partners, partners.c.partner_id == wallets.c.partner_id)
            .where(wallets.c.chain_id == chain_id)
        )
        wanted = set(texts)
        for address, name in rows:
            canonical = canonicalisers[chain_id](address)
            if canonical in wanted:
                owners[(chain_id, canonical)] = name
    return owners


def _reward_collisions(bind, changes: list[dict], canonicalisers: dict, problems: list[str]):
    """Reward rows whose key (chain, period, validator, staker, component) becomes one."""
    spellings: dict[tuple[str, str], set[str]] = defaultdict(set)
    for change in changes:
        spellings[(change["chain_id"], change["new"])].update((change["old"], change["new"]))
    # Only a canonical form written two ways in the table can join two rows.
    texts = sorted({(chain, text) for (chain, _), group in spellings.items() for text in group})
    if not texts:
        return
    canonical_of = {
        (chain, text): new for (chain, new), group in spellings.items() for text in group
    }
    keyed: dict[tuple, list] = defaultdict(list)
    for batch in _in_batches(texts):
        rows = bind.execute(
            sa.select(
                rewards.c.chain_id,
                periods.c.label,
                rewards.c.validator_key,
                rewards.c.staker_address,
                rewards.c.revenue_component,
                payloads.c.file_name,
                rewards.c.period_id,
            )
            .join(periods, periods.c.period_id == rewards.c.period_id)
            .join(payloads, payloads.c.payload_id == rewards.c.source_payload_id)
            .where(sa.tuple_(rewards.c.chain_id, rewards.c.staker_address).in_(batch))
            .order_by(rewards.c.staker_address)
        )
        for chain_id, label, validator, address, component, file_name, period_id in rows:
            canonical = canonical_of[(chain_id, address)]
            key = (chain_id, period_id, validator, canonical, component)
            keyed[key].append((address, file_name, label))
    collided = {key: rows for key, rows in keyed.items() if len(rows) > 1}
    if not collided:
        return
    owners = _wallet_owners(bind, {(key[0], key[3]) for key in collided}, canonicalisers)
    for (chain_id, _, validator, canonical, component), rows in collided.items():
        owner = owners.get((chain_id, canonical))
        whose = f"wallet of partner {owner!r}" if owner else "no partner's wallet"
        for (first, first_file, label), (address, file_name, _) in zip(
            rows, rows[1:], strict=False
        ):
            problems.append(
                f"staker reward rows of {first} (file {first_file}) and {address} "
                f"(file {file_name}) on {chain_id}, period {label}, validator {validator}, "
                f"{component} become one row for {canonical} ({whose}): "
                "replace one of the files first"
            )


# ---- writes -------------------------------------------------------------------------------


def _apply_staker_changes(bind, table_name: str, changes: list[dict]) -> None:
    """One set-based UPDATE per table, joined to a temporary table of the new addresses."""
    if not changes:
        return
    bind.execute(
        sa.text(
            "CREATE TEMPORARY TABLE address_changes "
            "(chain_id VARCHAR(50) NOT NULL, old_address VARCHAR(100) NOT NULL, "
            "new_address VARCHAR(100) NOT NULL, PRIMARY KEY (chain_id, old_address))"
        )
    )
    insert = sa.text(
        "INSERT INTO address_changes (chain_id, old_address, new_address) "
        "VALUES (:chain_id, :old, :new)"
    )
    for batch in _in_batches(changes):
        bind.execute(insert, batch)
    bind.execute(
        sa.text(
            f"UPDATE {table_name} SET staker_address = address_changes.new_address "
            "FROM address_changes "
            f"WHERE {table_name}.chain_id = address_changes.chain_id "
            f"AND {table_name}.staker_address = address_changes.old_address"
        )
    )
    bind.execute(sa.text("DROP TABLE address_changes"))


def upgrade():
    bind = op.get_bind()
    canonicalisers = {
        chain_id: found
        for chain_id, address_format in bind.execute(
            sa.text("SELECT chain_id, address_format FROM chains")
        )
        if (found := _canonicaliser(address_format)) is not None
    }
    problems: list[str] = []
    name_keys = _partner_name_keys(bind, problems)
    wallet_changes = _wallet_changes(bind, canonicalisers, problems)
    reward_changes = _staker_changes(bind, rewards, canonicalisers)
    _reward_collisions(bind, reward_changes, canonicalisers, problems)
    event_changes = _staker_changes(bind, events, canonicalisers)
    if problems:
        shown = "\n".join(f"- {problem}" for problem in problems[:SHOWN])
        more = f"\n... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise MigrationConflict(
            f"cannot make addresses canonical and partner names unique ignoring case: "
            f"{len(problems)} conflict(s), nothing was changed\n{shown}{more}"
        )

    for batch in _in_batches(wallet_changes):
        bind.execute(
            wallets.update()
            .where(wallets.c.wallet_id == sa.bindparam("wid"))
            .values(wallet_address=sa.bindparam("new")),
            batch,
        )
    _apply_staker_changes(bind, "canonical_staker_rewards_detail", reward_changes)
    _apply_staker_changes(bind, "canonical_stake_events", event_changes)

    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(length=NAME_KEY_LENGTH), nullable=True))
    for batch in _in_batches(name_keys):
        bind.execute(
            partners.update()
            .where(partners.c.partner_id == sa.bindparam("pid"))
            .values(name_key=sa.bindparam("key")),
            batch,
        )
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.alter_column(
            "name_key", existing_type=sa.String(length=NAME_KEY_LENGTH), nullable=False
        )
        batch_op.create_unique_constraint(op.f("uq_partners_name_key"), ["name_key"])


def downgrade():
    # Canonical addresses stay canonical: they are valid in the earlier schema too.
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_partners_name_key"), type_="unique")
        batch_op.drop_column("name_key")
