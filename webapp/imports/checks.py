"""Row checks for the five canonical CSV formats: plain data in, records and row errors out.

Nothing here touches the database. `Reference` carries what the checks need to know about
stored data (chains, periods); each checker turns one CSV row into a record tuple whose
leading fields are the row's unique key, or records why the row is refused.
"""

import bisect
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from sys import intern

from webapp.addresses import canonical_if_valid
from webapp.csvio import Column, RowError
from webapp.money import AmountError, parse_amount, plain_amount
from webapp.vocab import PayloadKind, RevenueComponent, StakeEventType

#: At most this many row errors are kept; the rest are only counted.
ERROR_LIMIT = 1000
#: Longest validator key and staker address the schema holds.
KEY_LENGTH = 100
#: Longest period label the schema holds.
LABEL_LENGTH = 50
#: Canonical addresses remembered per chain while a file is read (bounds the memory).
ADDRESS_CACHE_LIMIT = 200_000

COMPONENTS = {member.value: member.value for member in RevenueComponent}
EVENT_TYPES = {member.value: member.value for member in StakeEventType}


class ErrorLog:
    """The row errors of one file: the first `ERROR_LIMIT` in full, a count of the rest."""

    def __init__(self, limit: int = ERROR_LIMIT):
        self.limit = limit
        self.errors: list[RowError] = []
        self.more = 0

    def add(self, line: int, column: str, reason: str) -> None:
        """Keep an error, or only count it once the limit is reached."""
        if len(self.errors) < self.limit:
            self.errors.append(RowError(line, column, reason))
        else:
            self.more += 1

    def add_found(self, found: list[RowError], more: int = 0) -> None:
        """Add errors found after the rows' own checks, and `more` only counted, keeping
        the first `limit` errors in line order."""
        combined = sorted([*self.errors, *found], key=lambda error: error.line)
        self.more += more + max(0, len(combined) - self.limit)
        self.errors = combined[: self.limit]

    @property
    def count(self) -> int:
        """How many errors were found in all."""
        return len(self.errors) + self.more

    def __bool__(self) -> bool:
        return self.count > 0


@dataclass
class PeriodRef:
    """A stored period, as the checks see it; records carry its id as its 16 bytes (`key`):
    hashed once, compared fast, and written by binary COPY as they are."""

    period_id: uuid.UUID
    chain_id: str
    label: str
    start_time: datetime
    end_time: datetime
    source_payload_id: uuid.UUID | None = None
    key: bytes = b""

    def __post_init__(self):
        self.key = self.period_id.bytes


@dataclass
class Reference:
    """What the checks know of stored data: chain ids and the periods of each chain."""

    chains: set[str]
    periods: list[PeriodRef] = field(default_factory=list)
    #: Each chain's address format, by chain id (staker addresses are made canonical).
    address_formats: dict[str, str] = field(default_factory=dict)
    #: How to name a stored payload in a message, by payload id.
    payload_names: dict[uuid.UUID, str] = field(default_factory=dict)

    def __post_init__(self):
        self.by_label = {(p.chain_id, p.label): p for p in self.periods}
        self.by_key = {p.key: p for p in self.periods}
        self._timeline: dict[str, tuple[list[datetime], list[PeriodRef]]] = {}
        for period in sorted(self.periods, key=lambda p: p.start_time):
            starts, refs = self._timeline.setdefault(period.chain_id, ([], []))
            starts.append(period.start_time)
            refs.append(period)

    def period_at(self, chain_id: str, instant: datetime) -> PeriodRef | None:
        """The period of the chain with start <= instant < end, if there is one."""
        starts, refs = self._timeline.get(chain_id, ((), ()))
        index = bisect.bisect_right(starts, instant) - 1
        if index >= 0 and instant < refs[index].end_time:
            return refs[index]
        return None

    def address_canonicaliser(self) -> Callable[[str, str], str]:
        """canonical(chain_id, address): the address in its chain's canonical form.

        A valid address becomes canonical (DOMAIN.md), anything else stays as given. Forms
        are worked out once per distinct address of a file, and not at all for `base58-32`,
        whose canonical form is the address as given.
        """
        caches: dict[str, dict[str, str] | None] = {
            chain_id: None if address_format == "base58-32" else {}
            for chain_id, address_format in self.address_formats.items()
        }
        formats = self.address_formats

        def canonical(chain_id: str, address: str) -> str:
            cache = caches.get(chain_id)
            if cache is None:
                return address
            found = cache.get(address)
            if found is None:
                if len(cache) >= ADDRESS_CACHE_LIMIT:
                    cache.clear()
                found = cache[address] = canonical_if_valid(address, formats[chain_id])
            return found

        return canonical

    def overlapping(self, chain_id: str, start: datetime, end: datetime) -> PeriodRef | None:
        """A stored period of the chain that shares an instant with [start, end), if any."""
        starts, refs = self._timeline.get(chain_id, ((), ()))
        index = bisect.bisect_left(starts, end) - 1
        if index >= 0 and refs[index].end_time > start:
            return refs[index]
        return None


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime; no offset means UTC."""
    raw = text.strip()
    if not raw:
        raise ValueError("timestamp is empty")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not an ISO 8601 timestamp") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-23:59 is a day past the last instant a datetime can hold.
        raise ValueError(f"{raw!r} lies outside the years 1 to 9999 in UTC") from None


def describe_instant(value: datetime) -> str:
    """An instant as people read it in messages: 2025-10-01 00:00:00 UTC."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class KindSpec:
    """One import kind: its CSV columns, its record fields and how many of them form the key."""

    kind: PayloadKind
    noun: str
    columns: tuple[Column, ...]
    fields: tuple[str, ...]
    key_size: int
    key_column: str
    key_words: str
    make_checker: Callable[[Reference, ErrorLog], Callable[[int, dict], tuple | None]]


def _text(row, name, line, errors, limit=KEY_LENGTH):
    value = row[name]
    if not value:
        errors.add(line, name, f"{name} is empty")
        return None
    if len(value) > limit:
        errors.add(line, name, f"{name} is longer than {limit} characters")
        return None
    return value


def _amount(row, name, line, errors):
    try:
        return parse_amount(row[name])
    except AmountError as exc:
        errors.add(line, name, str(exc))
        return None


def _choice(row, name, line, errors, choices, what):
    value = row[name]
    found = choices.get(value) or choices.get(value.upper())
    if found is None:
        expected = ", ".join(choices)
        shown = f"{value!r}" if value else "empty"
        errors.add(line, name, f"unknown {what} {shown} (expected one of {expected})")
    return found


def _chain(row, line, errors, chains):
    chain_id = row["chain_id"]
    if chain_id in chains:
        return chain_id
    if not chain_id:
        errors.add(line, "chain_id", "chain_id is empty")
    else:
        errors.add(line, "chain_id", f"unknown chain {chain_id!r}")
    return None


def _period(row, line, errors, chain_id, by_label):
    label = row["period"]
    period = by_label.get((chain_id, label))
    if period is None:
        if not label:
            errors.add(line, "period", "period is empty")
        else:
            errors.add(
                line,
                "period",
                f"no period labelled {label!r} on chain {chain_id} (import the periods first)",
            )
        return None
    return period.key


def _periods_rows(reference: Reference, errors: ErrorLog):
    chains = reference.chains

    def check(line: int, row: dict) -> tuple | None:
        before = errors.count
        chain_id = _chain(row, line, errors, chains)
        label = _text(row, "label", line, errors, LABEL_LENGTH)
        times = []
        for name in ("start_time", "end_time"):
            try:
                times.append(parse_timestamp(row[name]))
            except ValueError as exc:
                errors.add(line, name, f"{name}: {exc}")
        if len(times) == 2 and times[1] <= times[0]:
            errors.add(line, "end_time", "end_time must be after start_time")
        if errors.count != before:
            return None
        stored = reference.by_label.get((chain_id, label))
        if stored is not None:
            source = reference.payload_names.get(stored.source_payload_id, "an earlier import")
            errors.add(
                line, "label", f"period {label!r} of {chain_id} is already stored ({source})"
            )
            return None
        return (chain_id, label, times[0], times[1])

    return check


def _validator_revenue_rows(reference: Reference, errors: ErrorLog):
    chains, by_label = reference.chains, reference.by_label

    def check(line: int, row: dict) -> tuple | None:
        before = errors.count
        chain_id = _chain(row, line, errors, chains)
        period_id = _period(row, line, errors, chain_id, by_label) if chain_id else None
        validator_key = _text(row, "validator_key", line, errors)
        component = _choice(row, "revenue_component", line, errors, COMPONENTS, "revenue component")
        amount = _amount(row, "amount_native", line, errors)
        if errors.count != before:
            return None
        return (chain_id, period_id, validator_key, component, amount)

    return check


def _staker_rewards_rows(reference: Reference, errors: ErrorLog, canonical=None):
    chains, by_label = reference.chains, reference.by_label
    canonical = canonical or reference.address_canonicaliser()

    def check(line: int, row: dict) -> tuple | None:
        before = errors.count
        chain_id = _chain(row, line, errors, chains)
        period_id = _period(row, line, errors, chain_id, by_label) if chain_id else None
        validator_key = _text(row, "validator_key", line, errors)
        staker_address = _text(row, "staker_address", line, errors)
        component = _choice(row, "revenue_component", line, errors, COMPONENTS, "revenue component")
        amount = _amount(row, "reward_amount_native", line, errors)
        if errors.count != before:
            return None
        staker_address = canonical(chain_id, staker_address)
        return (chain_id, period_id, validator_key, staker_address, component, amount)

    return check


def _stake_events_rows(reference: Reference, errors: ErrorLog):
    chains = reference.chains
    canonical = reference.address_canonicaliser()

    def check(line: int, row: dict) -> tuple | None:
        before = errors.count
        chain_id = _chain(row, line, errors, chains)
        validator_key = _text(row, "validator_key", line, errors)
        staker_address = _text(row, "staker_address", line, errors)
        event_type = _choice(row, "event_type", line, errors, EVENT_TYPES, "event type")
        amount = _amount(row, "stake_amount_native", line, errors)
        period = None
        try:
            timestamp = parse_timestamp(row["event_timestamp"])
        except ValueError as exc:
            errors.add(line, "event_timestamp", f"event_timestamp: {exc}")
        else:
            if chain_id:
                period = reference.period_at(chain_id, timestamp)
                if period is None:
                    errors.add(
                        line,
                        "event_timestamp",
                        f"no period of {chain_id} contains {describe_instant(timestamp)}",
                    )
        if errors.count != before:
            return None
        return (
            chain_id,
            period.key,
            validator_key,
            canonical(chain_id, staker_address),
            event_type,
            amount,
            timestamp,
        )

    return check


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(text: str) -> date:
    """A `YYYY-MM-DD` day, nothing else (no time, no other spelling)."""
    raw = text.strip()
    if not raw:
        raise ValueError("date is empty")
    try:
        if _DAY.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise ValueError(f"{raw!r} is not a date (YYYY-MM-DD)")


def _prices_rows(reference: Reference, errors: ErrorLog):
    chains = reference.chains

    def check(line: int, row: dict) -> tuple | None:
        before = errors.count
        chain_id = _chain(row, line, errors, chains)
        try:
            day = parse_day(row["date"])
        except ValueError as exc:
            errors.add(line, "date", str(exc))
        price = _amount(row, "price_usd", line, errors)
        if price is not None and price <= 0:
            errors.add(line, "price_usd", f"price_usd {row['price_usd']!r} is not above zero")
        if errors.count != before:
            return None
        return (chain_id, day, price)

    return check


def _by_name(make_full, names):
    """A checker of value tuples that hands each row to `make_full` as {column: value}."""

    def make(reference: Reference, errors: ErrorLog):
        full = make_full(reference, errors)

        def check(line: int, row: tuple) -> tuple | None:
            return full(line, dict(zip(names, row, strict=True)))

        return check

    return make


# The fast paths below accept only rows that are plainly valid and build the very record
# the full check would; anything else goes to the full check, which reports every error.
# They hand out one shared object per chain and validator (the period's chain id, interned
# validator keys): the writer sorts chunks by these keys, and equal objects compare at once.


def _validator_revenue_checker(reference: Reference, errors: ErrorLog):
    by_label = reference.by_label
    full = _by_name(_validator_revenue_rows, REVENUE_NAMES)(reference, errors)

    def check(line: int, row: tuple) -> tuple | None:
        chain_id, label, validator_key, component, amount = row
        period = by_label.get((chain_id, label))
        component = COMPONENTS.get(component)
        if period is not None and component and 0 < len(validator_key) <= KEY_LENGTH:
            try:
                amount = Decimal(amount) if plain_amount(amount) else parse_amount(amount)
            except AmountError:
                pass
            else:
                return (period.chain_id, period.key, intern(validator_key), component, amount)
        return full(line, row)

    return check


def _staker_rewards_checker(reference: Reference, errors: ErrorLog):
    by_label = reference.by_label
    canonical = reference.address_canonicaliser()
    # Chains whose canonical form may differ from the text (not base58-32): a set lookup
    # per row keeps the common case free of a call.
    recased = {c for c, f in reference.address_formats.items() if f != "base58-32"}
    full_by_name = _staker_rewards_rows(reference, errors, canonical)

    def full(line: int, row: tuple) -> tuple | None:
        return full_by_name(line, dict(zip(REWARD_NAMES, row, strict=True)))

    def check(line: int, row: tuple) -> tuple | None:
        chain_id, label, validator_key, staker_address, component, amount = row
        period = by_label.get((chain_id, label))
        component = COMPONENTS.get(component)
        if (
            period is not None
            and component
            and 0 < len(validator_key) <= KEY_LENGTH
            and 0 < len(staker_address) <= KEY_LENGTH
        ):
            try:
                amount = Decimal(amount) if plain_amount(amount) else parse_amount(amount)
            except AmountError:
                pass
            else:
                if chain_id in recased:
                    staker_address = canonical(chain_id, staker_address)
                validator_key = intern(validator_key)
                return (
                    period.chain_id,
                    period.key,
                    validator_key,
                    staker_address,
                    component,
                    amount,
                )
        return full(line, row)

    return check


REVENUE_NAMES = ("chain_id", "period", "validator_key", "revenue_component", "amount_native")
REWARD_NAMES = (
    "chain_id",
    "period",
    "validator_key",
    "staker_address",
    "revenue_component",
    "reward_amount_native",
)
EVENT_NAMES = (
    "chain_id",
    "validator_key",
    "staker_address",
    "event_type",
    "stake_amount_native",
    "event_timestamp",
)
PERIOD_NAMES = ("chain_id", "label", "start_time", "end_time")
PRICE_NAMES = ("chain_id", "date", "price_usd")
_periods_checker = _by_name(_periods_rows, PERIOD_NAMES)
_stake_events_checker = _by_name(_stake_events_rows, EVENT_NAMES)
_prices_checker = _by_name(_prices_rows, PRICE_NAMES)


SPECS: dict[str, KindSpec] = {
    spec.kind.value: spec
    for spec in (
        KindSpec(
            kind=PayloadKind.PERIODS,
            noun="periods",
            columns=(
                Column("chain_id", ("chain",)),
                Column("label", ("period",)),
                Column("start_time", ("start",)),
                Column("end_time", ("end",)),
            ),
            fields=("chain_id", "label", "start_time", "end_time"),
            key_size=2,
            key_column="label",
            key_words="chain and label",
            make_checker=_periods_checker,
        ),
        KindSpec(
            kind=PayloadKind.VALIDATOR_REVENUE,
            noun="validator revenue rows",
            columns=(
                Column("chain_id", ("chain",)),
                Column("period", ("period_label", "label")),
                Column("validator_key", ("validator",)),
                Column("revenue_component", ("component",)),
                Column("amount_native", ("amount",)),
            ),
            fields=("chain_id", "period_id", "validator_key", "revenue_component", "amount_native"),
            key_size=4,
            key_column="validator_key",
            key_words="chain, period, validator and component",
            make_checker=_validator_revenue_checker,
        ),
        KindSpec(
            kind=PayloadKind.STAKER_REWARDS,
            noun="staker reward rows",
            columns=(
                Column("chain_id", ("chain",)),
                Column("period", ("period_label", "label")),
                Column("validator_key", ("validator",)),
                Column("staker_address", ("staker",)),
                Column("revenue_component", ("component",)),
                Column("reward_amount_native", ("amount_native", "amount")),
            ),
            fields=(
                "chain_id",
                "period_id",
                "validator_key",
                "staker_address",
                "revenue_component",
                "reward_amount_native",
            ),
            key_size=5,
            key_column="staker_address",
            key_words="chain, period, validator, staker and component",
            make_checker=_staker_rewards_checker,
        ),
        KindSpec(
            kind=PayloadKind.STAKE_EVENTS,
            noun="stake events",
            columns=(
                Column("chain_id", ("chain",)),
                Column("validator_key", ("validator",)),
                Column("staker_address", ("staker",)),
                Column("event_type", ("type",)),
                Column("stake_amount_native", ("amount_native", "amount")),
                Column("event_timestamp", ("timestamp",)),
            ),
            fields=(
                "chain_id",
                "period_id",
                "validator_key",
                "staker_address",
                "event_type",
                "stake_amount_native",
                "event_timestamp",
            ),
            # Events have no unique key in the schema: the same event may legitimately repeat.
            key_size=0,
            key_column="",
            key_words="",
            make_checker=_stake_events_checker,
        ),
        KindSpec(
            kind=PayloadKind.PRICES,
            noun="prices",
            columns=(
                Column("chain_id", ("chain",)),
                Column("date", ("day",)),
                Column("price_usd", ("price", "usd")),
            ),
            fields=PRICE_NAMES,
            key_size=2,
            key_column="date",
            key_words="chain and date",
            make_checker=_prices_checker,
        ),
    )
}

#: The kinds the importer accepts, in the order people think of them.
KINDS = tuple(SPECS)


def overlap_errors(
    records: list[tuple[int, tuple]], reference: Reference, errors: ErrorLog
) -> None:
    """Report periods of a file that overlap each other or a stored period of their chain."""
    by_chain: dict[str, list[tuple[int, tuple]]] = {}
    for line, record in records:
        by_chain.setdefault(record[0], []).append((line, record))
    for chain_id, items in by_chain.items():
        items.sort(key=lambda item: (item[1][2], item[0]))
        previous = None
        for line, (_, label, start, end) in items:
            if previous is not None and start < previous[1][3]:
                errors.add(
                    line,
                    "start_time",
                    f"period {label!r} overlaps period {previous[1][1]!r} "
                    f"of line {previous[0]} (periods are [start_time, end_time))",
                )
            stored = reference.overlapping(chain_id, start, end)
            if stored is not None:
                errors.add(
                    line,
                    "start_time",
                    f"period {label!r} overlaps stored period {stored.label!r} of {chain_id} "
                    f"({describe_instant(stored.start_time)} to "
                    f"{describe_instant(stored.end_time)})",
                )
            if previous is None or end > previous[1][3]:
                previous = (line, (chain_id, label, start, end))
