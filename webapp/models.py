"""The whole schema: canonical data with lineage, partners and wallets, agreements,
commission runs and lines, users and the audit log.

Table, constraint and index names follow the design notes of the system this replaces.
Amounts use `Amount` (NUMERIC(38,18)), instants `UTCDateTime`; never floats.
"""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from webapp import reward_partitions, reward_revisions, reward_sums, row_revisions
from webapp.db_types import Amount, UsdValue, UTCDateTime
from webapp.extensions import db
from webapp.vocab import (
    MAX_BPS,
    JobStatus,
    LineKind,
    Method,
    RevenueComponent,
    Role,
    RunStatus,
    StakeEventType,
    TokenScope,
    sql_in,
)
from webapp.vocab import PayloadKind as PayloadKind  # re-exported: features import it from here


def utcnow() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def _enum(py_enum, name):
    return Enum(
        py_enum,
        name=name,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        create_constraint=True,
    )


revenue_component_enum = _enum(RevenueComponent, "revenuecomponent")
stake_event_type_enum = _enum(StakeEventType, "stake_event_type")


class TimestampMixin:
    """created_at / updated_at, kept by the application in UTC."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


class User(UserMixin, TimestampMixin, db.Model):
    """Someone who signs in: a viewer, a manager or an admin."""

    __tablename__ = "users"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False, default=Role.VIEWER.value)
    is_active_user: Mapped[bool] = mapped_column(
        "is_active", Boolean, nullable=False, default=True, server_default=text("true")
    )
    #: Bumped by sign-out and password change: a session of an older generation is void.
    session_generation: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )

    __table_args__ = (CheckConstraint(sql_in("role", Role), name="ck_users_role"),)

    def get_id(self) -> str:
        return str(self.user_id)

    @property
    def is_active(self) -> bool:
        return self.is_active_user

    def can(self, role: "Role | str") -> bool:
        """True when this user's role is at least `role` (viewer < manager < admin)."""
        order = [Role.VIEWER, Role.MANAGER, Role.ADMIN]
        return order.index(Role(self.role)) >= order.index(Role(role))


class LoginFailure(db.Model):
    """One failed sign-in, counted against its account (`email`) and its client `address`.

    Kept in the database so that every worker sees the same count; rows older than the
    lock-out window are deleted as new failures arrive.
    """

    __tablename__ = "login_failures"

    failure_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    address: Mapped[str] = mapped_column(String(64), nullable=False)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        Index("ix_login_failures_email_failed_at", "email", "failed_at"),
        Index("ix_login_failures_address_failed_at", "address", "failed_at"),
        Index("ix_login_failures_failed_at", "failed_at"),
    )


class LoginThrottle(db.Model):
    """The row a sign-in attempt locks for its account (`email:…`) and its client address
    (`address:…`), one after the other: counting the failures and storing the attempt as one
    is a single step, so parallel attempts see each other and no more than the limit are
    checked. Rows older than the lock-out window are deleted as new attempts arrive.
    """

    __tablename__ = "login_throttles"

    throttle_key: Mapped[str] = mapped_column(String(330), primary_key=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_login_throttles_attempted_at", "attempted_at"),)


class AuditLog(db.Model):
    """Who changed what, when, with the values before and after (JSON text)."""

    __tablename__ = "audit_log"

    audit_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="SET NULL"), nullable=True
    )
    action: Mapped[str] = mapped_column(String(50), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(50), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(100), nullable=False)
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    user: Mapped[User | None] = relationship()

    __table_args__ = (
        Index("idx_audit_log_entity", "entity_type", "entity_id"),
        Index("idx_audit_log_created_at", "created_at"),
        # The history's pages, newest first, of one kind of thing or of one user.
        Index("idx_audit_log_entity_type_created", "entity_type", "created_at"),
        Index("idx_audit_log_user_created", "user_id", "created_at"),
    )


class Chain(TimestampMixin, db.Model):
    """A blockchain the operator runs validators on."""

    __tablename__ = "chains"

    chain_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    token_symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    display_decimals: Mapped[int] = mapped_column(Integer, nullable=False, default=9)
    address_format: Mapped[str] = mapped_column(String(60), nullable=False)

    __table_args__ = (
        CheckConstraint("chain_id <> ''", name="ck_chains_chain_id_not_empty"),
        CheckConstraint(
            "display_decimals >= 0 AND display_decimals <= 18", name="ck_chains_display_decimals"
        ),
    )


class Provider(TimestampMixin, db.Model):
    """A source of canonical data (jito, solana-rpc, manual-upload, ...)."""

    __tablename__ = "providers"

    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)

    __table_args__ = (CheckConstraint("name <> ''", name="ck_providers_name_not_empty"),)


class StagingPayload(db.Model):
    """One imported file: the lineage every canonical row points back to."""

    __tablename__ = "staging_payloads"

    payload_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("providers.provider_id", ondelete="RESTRICT"), nullable=False
    )
    chain_id: Mapped[str | None] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    file_name: Mapped[str] = mapped_column(String(255), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    row_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    provider: Mapped[Provider] = relationship()
    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        UniqueConstraint("kind", "sha256", name="uq_staging_payloads_kind_sha256"),
        CheckConstraint("row_count >= 0", name="ck_staging_payloads_row_count"),
        Index("idx_staging_payloads_created_at", "created_at"),
    )


class LineageMixin:
    """Every canonical row names the provider and the payload it came from."""

    source_provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("providers.provider_id", ondelete="RESTRICT"), nullable=False
    )
    source_payload_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("staging_payloads.payload_id", ondelete="RESTRICT"), nullable=False
    )
    normalized_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class CanonicalPeriod(LineageMixin, db.Model):
    """A period of a chain, half-open [start_time, end_time) in UTC."""

    __tablename__ = "canonical_periods"

    period_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), nullable=False
    )
    label: Mapped[str] = mapped_column(String(50), nullable=False)
    start_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    end_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    chain: Mapped[Chain] = relationship()

    __table_args__ = (
        UniqueConstraint("chain_id", "label", name="uq_canonical_periods_chain_label"),
        CheckConstraint("end_time > start_time", name="ck_canonical_periods_time_order"),
        CheckConstraint("label <> ''", name="ck_canonical_periods_label_not_empty"),
        Index("idx_canonical_periods_chain_start", "chain_id", "start_time"),
    )


class CanonicalValidatorRevenue(LineageMixin, db.Model):
    """Revenue of one validator in one period for one component: the total-revenue base."""

    __tablename__ = "canonical_validator_revenue"

    revenue_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), nullable=False
    )
    period_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("canonical_periods.period_id", ondelete="CASCADE"), nullable=False
    )
    validator_key: Mapped[str] = mapped_column(String(100), nullable=False)
    revenue_component: Mapped[RevenueComponent] = mapped_column(
        revenue_component_enum, nullable=False
    )
    amount_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)

    __table_args__ = (
        UniqueConstraint(
            "chain_id",
            "period_id",
            "validator_key",
            "revenue_component",
            name="uq_canonical_validator_revenue",
        ),
        CheckConstraint(
            "amount_native >= 0", name="ck_canonical_validator_revenue_amount_positive"
        ),
        CheckConstraint(
            "validator_key <> ''", name="ck_canonical_validator_revenue_validator_not_empty"
        ),
        Index("idx_canonical_validator_revenue_chain_period", "chain_id", "period_id"),
        Index("idx_canonical_validator_revenue_payload", "source_payload_id"),
    )


class CanonicalStakerRewardsDetail(LineageMixin, db.Model):
    """Reward of one staker with one validator in one period for one component.

    On PostgreSQL the table is partitioned by period (`webapp.reward_partitions`): its
    primary key holds the period beside the row's id, as a partitioned table's keys must.
    """

    __tablename__ = "canonical_staker_rewards_detail"

    staker_reward_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), nullable=False
    )
    period_id: Mapped[uuid.UUID] = mapped_column(
        Uuid,
        ForeignKey("canonical_periods.period_id", ondelete="CASCADE"),
        primary_key=True,
        nullable=False,
    )
    validator_key: Mapped[str] = mapped_column(String(100), nullable=False)
    staker_address: Mapped[str] = mapped_column(String(100), nullable=False)
    revenue_component: Mapped[RevenueComponent] = mapped_column(
        revenue_component_enum, nullable=False
    )
    reward_amount_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)

    __table_args__ = (
        UniqueConstraint(
            "chain_id",
            "period_id",
            "validator_key",
            "staker_address",
            "revenue_component",
            name="uq_canonical_staker_rewards_detail",
        ),
        CheckConstraint(
            "reward_amount_native >= 0",
            name="ck_canonical_staker_rewards_detail_amount_positive",
        ),
        CheckConstraint(
            "staker_address <> ''", name="ck_canonical_staker_rewards_detail_staker_not_empty"
        ),
        Index("idx_canonical_staker_rewards_detail_chain_period", "chain_id", "period_id"),
        Index("idx_canonical_staker_rewards_detail_validator", "validator_key"),
        Index("idx_canonical_staker_rewards_detail_staker", "staker_address"),
        Index("idx_canonical_staker_rewards_detail_component", "revenue_component"),
        Index("idx_canonical_staker_rewards_detail_payload", "source_payload_id"),
        {"postgresql_partition_by": "LIST (period_id)"},
    )


class StakerRewardSum(db.Model):
    """The staker rewards of one period and component, added up: kept on PostgreSQL by
    triggers on canonical_staker_rewards_detail as its rows are written, replaced or deleted
    (`webapp.reward_sums`), for the pages that show the sums per period. Empty on
    SQLite, whose pages add the rows up."""

    __tablename__ = "staker_reward_sums"

    period_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("canonical_periods.period_id", ondelete="CASCADE"), primary_key=True
    )
    revenue_component: Mapped[RevenueComponent] = mapped_column(
        revenue_component_enum, primary_key=True
    )
    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), nullable=False
    )
    row_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)

    __table_args__ = (Index("idx_staker_reward_sums_chain", "chain_id"),)


class StakerRewardRevision(db.Model):
    """The revision of one period's staker reward rows: drawn again on PostgreSQL by
    triggers on canonical_staker_rewards_detail and its partitions whenever any of the
    period's rows is written, changed or removed (`webapp.reward_revisions`), so that figures
    kept per period are kept by it instead of a digest of the rows. Empty on SQLite."""

    __tablename__ = "staker_reward_revisions"

    period_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("canonical_periods.period_id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)


reward_sums.attach(CanonicalStakerRewardsDetail.__table__)
# The function first: the default partition's triggers, made with it, call it.
reward_revisions.attach(CanonicalStakerRewardsDetail.__table__)
reward_partitions.attach(CanonicalStakerRewardsDetail.__table__)


class CanonicalStakeEvent(LineageMixin, db.Model):
    """A STAKE, UNSTAKE or RESTAKE of a staker with a validator."""

    __tablename__ = "canonical_stake_events"

    stake_event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), nullable=False
    )
    period_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("canonical_periods.period_id", ondelete="CASCADE"), nullable=False
    )
    validator_key: Mapped[str] = mapped_column(String(100), nullable=False)
    staker_address: Mapped[str] = mapped_column(String(100), nullable=False)
    event_type: Mapped[StakeEventType] = mapped_column(stake_event_type_enum, nullable=False)
    stake_amount_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)
    event_timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        CheckConstraint(
            "stake_amount_native >= 0", name="ck_canonical_stake_events_amount_positive"
        ),
        CheckConstraint("staker_address <> ''", name="ck_canonical_stake_events_staker_not_empty"),
        Index("idx_canonical_stake_events_chain_period", "chain_id", "period_id"),
        Index("idx_canonical_stake_events_validator", "validator_key"),
        Index("idx_canonical_stake_events_staker", "staker_address"),
        Index("idx_canonical_stake_events_timestamp", "event_timestamp"),
        Index("idx_canonical_stake_events_type", "event_type"),
        Index("idx_canonical_stake_events_payload", "source_payload_id"),
    )


class StakeEventRevision(db.Model):
    """The revision of one chain's stake events: drawn again on PostgreSQL by triggers on
    canonical_stake_events whenever any of the chain's events is written, changed or removed
    (`webapp.row_revisions.EVENTS`), so that the digest of a partner's stake events is kept by it
    instead of summed from the events on every page. Empty on SQLite."""

    __tablename__ = "stake_event_revisions"

    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)


row_revisions.EVENTS.attach(CanonicalStakeEvent.__table__)


#: Longest partner name; its key may be longer (case folding can expand a character to 3).
PARTNER_NAME_LENGTH = 200


def partner_name_key(name: str) -> str:
    """A partner name as uniqueness sees it: letter case ignored (Unicode case folding)."""
    return name.casefold()


def _default_name_key(context) -> str:
    # For inserts that do not go through the ORM object (which sets the key itself).
    return partner_name_key(context.get_current_parameters()["name"])


class CanonicalPrice(LineageMixin, db.Model):
    """The USD price of a chain's token on one UTC day (DOMAIN.md "Price")."""

    __tablename__ = "canonical_prices"

    price_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), nullable=False
    )
    date: Mapped[date] = mapped_column(Date, nullable=False)
    price_usd: Mapped[Decimal] = mapped_column(Amount, nullable=False)

    __table_args__ = (
        UniqueConstraint("chain_id", "date", name="uq_canonical_prices_chain_date"),
        CheckConstraint("price_usd > 0", name="ck_canonical_prices_price_positive"),
        Index("idx_canonical_prices_payload", "source_payload_id"),
    )


class Partner(TimestampMixin, db.Model):
    """A wallet provider, exchange or fund manager that brings stakers.

    Names are unique whatever their letter case: `name_key` (the case-folded name) carries
    the database's unique constraint.
    """

    __tablename__ = "partners"

    partner_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(PARTNER_NAME_LENGTH), nullable=False, unique=True)
    name_key: Mapped[str] = mapped_column(
        String(3 * PARTNER_NAME_LENGTH), nullable=False, unique=True, default=_default_name_key
    )
    contact: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=text("true")
    )

    __table_args__ = (CheckConstraint("name <> ''", name="ck_partners_name_not_empty"),)

    @validates("name")
    def _keep_name_key(self, _, name: str) -> str:
        self.name_key = partner_name_key(name)
        return name


class PartnerWallet(TimestampMixin, db.Model):
    """A staker wallet a partner introduced; one row per (chain, address) across partners."""

    __tablename__ = "partner_wallets"

    wallet_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.partner_id", ondelete="CASCADE"), nullable=False
    )
    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), nullable=False
    )
    wallet_address: Mapped[str] = mapped_column(String(100), nullable=False)
    introduced_date: Mapped[date] = mapped_column(Date, nullable=False)
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=text("true")
    )
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)

    partner: Mapped[Partner] = relationship()
    chain: Mapped[Chain] = relationship()

    __table_args__ = (
        UniqueConstraint("chain_id", "wallet_address", name="uq_partner_wallets_chain_address"),
        CheckConstraint("wallet_address <> ''", name="ck_partner_wallets_address_not_empty"),
        Index("idx_partner_wallets_partner", "partner_id"),
        Index("idx_partner_wallets_chain", "chain_id"),
        Index("idx_partner_wallets_address", "wallet_address"),
        Index("idx_partner_wallets_active", "is_active"),
        Index(
            "idx_partner_wallets_partner_introduced", "partner_id", "introduced_date", "wallet_id"
        ),
        Index("idx_partner_wallets_partner_address", "partner_id", "wallet_address"),
    )


class PartnerWalletRevision(db.Model):
    """The revision of one partner's wallets: drawn again on PostgreSQL by triggers on
    partner_wallets whenever any of the partner's wallets is added, changed or removed
    (`webapp.row_revisions.WALLETS`), so that the digest of a partner's wallets is kept by it
    instead of summed from the wallets on every page. Empty on SQLite."""

    __tablename__ = "partner_wallet_revisions"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.partner_id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)


row_revisions.WALLETS.attach(PartnerWallet.__table__)


class Agreement(TimestampMixin, db.Model):
    """A partner's commission agreement on one chain, effective over an inclusive date range."""

    __tablename__ = "agreements"

    agreement_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.partner_id", ondelete="CASCADE"), nullable=False
    )
    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    effective_from: Mapped[date] = mapped_column(Date, nullable=False)
    effective_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    wallet_attribution_enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )

    partner: Mapped[Partner] = relationship()
    chain: Mapped[Chain] = relationship()
    rules: Mapped[list["AgreementRule"]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from",
            name="ck_agreements_effective_range",
        ),
        CheckConstraint("name <> ''", name="ck_agreements_name_not_empty"),
        Index("idx_agreements_partner_chain", "partner_id", "chain_id"),
        Index("idx_agreements_wallet_attribution", "wallet_attribution_enabled"),
    )


class AgreementRule(db.Model):
    """A commission rate in basis points for one component, optionally for one validator."""

    __tablename__ = "agreement_rules"

    rule_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    agreement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agreements.agreement_id", ondelete="CASCADE"), nullable=False
    )
    revenue_component: Mapped[RevenueComponent] = mapped_column(
        revenue_component_enum, nullable=False
    )
    validator_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    commission_rate_bps: Mapped[int] = mapped_column(Integer, nullable=False)

    agreement: Mapped[Agreement] = relationship(back_populates="rules")

    __table_args__ = (
        CheckConstraint(
            f"commission_rate_bps >= 0 AND commission_rate_bps <= {MAX_BPS}",
            name="ck_agreement_rules_rate_bps",
        ),
        CheckConstraint(
            "validator_key IS NULL OR validator_key <> ''",
            name="ck_agreement_rules_validator_not_empty",
        ),
        # NULLs are distinct in a plain unique constraint, so the two cases get two indexes.
        Index(
            "uq_agreement_rules_component_validator",
            "agreement_id",
            "revenue_component",
            "validator_key",
            unique=True,
            sqlite_where=text("validator_key IS NOT NULL"),
            postgresql_where=text("validator_key IS NOT NULL"),
        ),
        Index(
            "uq_agreement_rules_component_default",
            "agreement_id",
            "revenue_component",
            unique=True,
            sqlite_where=text("validator_key IS NULL"),
            postgresql_where=text("validator_key IS NULL"),
        ),
    )


class CommissionRun(db.Model):
    """One computation of one agreement over a date range: who, when, what, totals, and its
    way through month-end close (committed, approved, paid; or superseded).

    `created_by` / `created_at` are the commit; the latest approval, reopening and payment
    are kept here, every transition in `commission_run_events`.
    """

    __tablename__ = "commission_runs"

    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.partner_id", ondelete="CASCADE"), nullable=False
    )
    agreement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agreements.agreement_id", ondelete="CASCADE"), nullable=False
    )
    date_from: Mapped[date] = mapped_column(Date, nullable=False)
    date_to: Mapped[date] = mapped_column(Date, nullable=False)
    method: Mapped[str] = mapped_column(String(30), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    period_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    line_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_base_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)
    total_commission_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)
    excluded_amount_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)
    adjustment_count: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
    total_adjustment_native: Mapped[Decimal] = mapped_column(
        Amount, nullable=False, default=Decimal(0), server_default=text("0")
    )
    input_payload_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    superseded_by_run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("commission_runs.run_id", ondelete="SET NULL"), nullable=True
    )
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approved_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="SET NULL"), nullable=True
    )
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reopened_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="SET NULL"), nullable=True
    )
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reopen_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    paid_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="SET NULL"), nullable=True
    )
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paid_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    payout_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: The payout that settled the run (paid runs only).
    payout_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("payouts.payout_id", ondelete="RESTRICT"), nullable=True
    )

    partner: Mapped[Partner] = relationship()
    agreement: Mapped[Agreement] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_user_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_user_id])
    reopened_by: Mapped[User | None] = relationship(foreign_keys=[reopened_by_user_id])
    paid_by: Mapped[User | None] = relationship(foreign_keys=[paid_by_user_id])

    __table_args__ = (
        CheckConstraint(sql_in("status", RunStatus), name="ck_commission_runs_status"),
        CheckConstraint(sql_in("method", Method), name="ck_commission_runs_method"),
        CheckConstraint("date_to >= date_from", name="ck_commission_runs_date_range"),
        CheckConstraint(
            "status <> 'paid' OR (payout_reference IS NOT NULL AND paid_on IS NOT NULL)",
            name="ck_commission_runs_paid_reference",
        ),
        Index("idx_commission_runs_partner_created", "partner_id", "created_at"),
        Index("idx_commission_runs_agreement_status", "agreement_id", "status"),
    )


class Payout(db.Model):
    """One payment to a partner in one token: the approved runs it settles (their
    `payout_id`), its net, reference and paid-on date, who and when; final. Its statement
    is numbered per partner and year (`<partner slug>-<year>-<n>`)."""

    __tablename__ = "payouts"

    payout_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.partner_id", ondelete="CASCADE"), nullable=False
    )
    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="RESTRICT"), nullable=False
    )
    statement_number: Mapped[str] = mapped_column(String(140), nullable=False)
    #: n of the statement number: the partner's n-th payout of the year.
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    #: Commission plus adjustments of the runs settled (in the token).
    net_amount_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)
    #: The part of the net that earlier payouts of the token carried (below the minimum).
    carried_in_native: Mapped[Decimal] = mapped_column(
        Amount, nullable=False, default=Decimal(0), server_default=text("0")
    )
    payout_reference: Mapped[str] = mapped_column(String(200), nullable=False)
    paid_on: Mapped[date] = mapped_column(Date, nullable=False)
    paid_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    partner: Mapped[Partner] = relationship()
    chain: Mapped[Chain] = relationship()
    paid_by: Mapped[User | None] = relationship()

    __table_args__ = (
        UniqueConstraint("partner_id", "statement_number", name="uq_payouts_statement_number"),
        Index("idx_payouts_partner_chain", "partner_id", "chain_id", "created_at"),
    )


class PartnerPayoutMinimum(db.Model):
    """The least net a partner is paid in one token; a smaller net is carried (default 0)."""

    __tablename__ = "partner_payout_minimums"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.partner_id", ondelete="CASCADE"), primary_key=True
    )
    chain_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("chains.chain_id", ondelete="CASCADE"), primary_key=True
    )
    minimum_amount_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        CheckConstraint("minimum_amount_native >= 0", name="ck_partner_payout_minimums_positive"),
    )


class CommissionRunEvent(db.Model):
    """One transition of a run (committed, approved, reopened, paid, superseded): who, when,
    from which status to which, and why (a reopening's reason, a payout's reference)."""

    __tablename__ = "commission_run_events"

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("commission_runs.run_id", ondelete="CASCADE"), nullable=False
    )
    action: Mapped[str] = mapped_column(String(20), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20), nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="SET NULL"), nullable=True
    )
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    user: Mapped[User | None] = relationship()

    __table_args__ = (Index("idx_commission_run_events_run", "run_id", "created_at"),)


class CommissionRunPeriod(db.Model):
    """Whose lines are current for an (agreement, period): the run that last committed it.

    A recommit takes the pair over without rewriting lines that did not change; a run that
    holds no pair any more has been superseded.
    """

    __tablename__ = "commission_run_periods"

    agreement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agreements.agreement_id", ondelete="CASCADE"), primary_key=True
    )
    period_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("canonical_periods.period_id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("commission_runs.run_id", ondelete="CASCADE"), nullable=False
    )
    #: SHA-256 of the pair's lines and exclusions as last written: equal means unchanged.
    lines_digest: Mapped[str] = mapped_column(
        String(64), nullable=False, default="", server_default=text("''")
    )
    #: SHA-256 of what the pair's result depends on when it was committed
    #: (`commissions.fingerprints`); equal means a new commit has nothing to compute.
    inputs_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The digest of each part of those inputs apart (JSON: `fingerprints.PARTS`), so that a
    #: stale run can say what changed (data, wallets, stake events, rates, method, dates).
    inputs_parts: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The pair's commission lines per validator and component, and its exclusions per
    #: reason, as written (JSON, amounts as exact decimal text: `commissions.pair_sums`): a
    #: run's page adds these up instead of its lines. NULL for a pair written before they
    #: were kept; its rows are summed when asked.
    sums: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("idx_commission_run_periods_run", "run_id"),)


class KeptSummary(db.Model):
    """A set-based summary of wallet attribution (`commissions.set_based`), kept by the
    digests of its inputs so that any worker answers the same question again without
    summing it. Never stale: a change to any input changes the digests, hence the key."""

    __tablename__ = "kept_summaries"

    #: SHA-256 of the partner, the question and the digests of its periods' inputs.
    summary_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.partner_id", ondelete="CASCADE"), nullable=False
    )
    #: SHA-256 of the question: its periods in scope (labels) and whether wallets are counted.
    question: Mapped[str] = mapped_column(String(64), nullable=False)
    #: The digest of each period in scope, in scope order (JSON list).
    digests: Mapped[str] = mapped_column(Text, nullable=False)
    #: The summary's figures (JSON; amounts as exact decimal text).
    figures: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        Index("idx_kept_summaries_partner_question", "partner_id", "question", "created_at"),
    )


class KeptPeriod(db.Model):
    """One period's set-based figures under an agreement's terms (`commissions.set_based`:
    a preview's sums, or a commit's per-period totals and lines digest), kept by the digest
    of everything that period depends on, so that a question over many periods computes only
    those whose inputs moved. Never stale: a change to any input changes the digest."""

    __tablename__ = "kept_periods"

    #: SHA-256 of the kind of figures and of the period's inputs (`set_based.period_digests`).
    period_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.partner_id", ondelete="CASCADE"), nullable=False
    )
    #: "summary" (a preview's sums) or "lines" (a commit's figures of the lines it writes).
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    #: The period's figures (JSON; amounts as exact decimal text).
    figures: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (Index("idx_kept_periods_partner", "partner_id", "created_at"),)


class CommissionLock(db.Model):
    """An (agreement, period) locked by the approval of a run: never recomputed while locked.

    The primary key makes two locks of one pair impossible, whatever runs at the same time.
    """

    __tablename__ = "commission_locks"

    agreement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agreements.agreement_id", ondelete="CASCADE"), primary_key=True
    )
    period_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("canonical_periods.period_id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("commission_runs.run_id", ondelete="CASCADE"), nullable=False
    )
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (Index("idx_commission_locks_run", "run_id"),)


class CommissionRunPrice(db.Model):
    """The price a run's period was valued at when the run was approved (`prices.fix_prices`):
    an approved or paid run keeps these, whatever prices are imported later."""

    __tablename__ = "commission_run_prices"

    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("commission_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    period_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("canonical_periods.period_id", ondelete="CASCADE"), primary_key=True
    )
    price_day: Mapped[date] = mapped_column(Date, nullable=False)
    price_usd: Mapped[Decimal] = mapped_column(Amount, nullable=False)
    source_payload_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("staging_payloads.payload_id", ondelete="RESTRICT"), nullable=False
    )
    #: The sums of the values of the run's commission lines and adjustment lines of the
    #: period at this price, kept with it (a page reads these instead of the lines).
    commission_value_usd: Mapped[Decimal] = mapped_column(UsdValue, nullable=False)
    adjustment_value_usd: Mapped[Decimal] = mapped_column(UsdValue, nullable=False)
    fixed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        CheckConstraint("price_usd > 0", name="ck_commission_run_prices_price_positive"),
    )


class PartnerCommissionLine(db.Model):
    """One commission amount: agreement, period, validator, component and (maybe) wallet.

    `run_id` is the run that wrote the line; the run whose lines are current for a pair is
    in `commission_run_periods`. Indexes: the two unique keys (which also serve every read
    by agreement and period; one wallet's lines are read through the wallet key, by
    agreement, each period of the run and wallet) and two small partial ones for
    adjustments; nothing reads lines by wallet, run or partner alone, so no index is kept
    for that.
    """

    __tablename__ = "partner_commission_lines"

    line_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("commission_runs.run_id", ondelete="CASCADE"), nullable=False
    )
    agreement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agreements.agreement_id", ondelete="CASCADE"), nullable=False
    )
    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.partner_id", ondelete="CASCADE"), nullable=False
    )
    period_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("canonical_periods.period_id", ondelete="CASCADE"), nullable=False
    )
    validator_key: Mapped[str] = mapped_column(String(100), nullable=False)
    revenue_component: Mapped[RevenueComponent] = mapped_column(
        revenue_component_enum, nullable=False
    )
    wallet_address: Mapped[str | None] = mapped_column(String(100), nullable=True)
    base_amount_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)
    commission_rate_bps: Mapped[int] = mapped_column(Integer, nullable=False)
    commission_amount_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    line_kind: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        default=LineKind.COMMISSION.value,
        server_default=text("'commission'"),
    )
    corrects_run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("commission_runs.run_id", ondelete="CASCADE"), nullable=True
    )

    __table_args__ = (
        CheckConstraint(
            f"commission_rate_bps >= 0 AND commission_rate_bps <= {MAX_BPS}",
            name="ck_partner_commission_lines_rate_bps",
        ),
        CheckConstraint(
            f"(line_kind = '{LineKind.COMMISSION}' AND corrects_run_id IS NULL)"
            f" OR (line_kind = '{LineKind.ADJUSTMENT}' AND corrects_run_id IS NOT NULL)",
            name="ck_partner_commission_lines_kind",
        ),
        # By wallet before validator and component: a commit fills it left to right in
        # that order, and one wallet's lines are found by it (a search per period).
        Index(
            "uq_partner_commission_lines_wallet",
            "agreement_id",
            "period_id",
            "wallet_address",
            "validator_key",
            "revenue_component",
            unique=True,
            sqlite_where=text("wallet_address IS NOT NULL AND line_kind = 'commission'"),
            postgresql_where=text("wallet_address IS NOT NULL AND line_kind = 'commission'"),
        ),
        Index(
            "uq_partner_commission_lines_total",
            "agreement_id",
            "period_id",
            "validator_key",
            "revenue_component",
            unique=True,
            sqlite_where=text("wallet_address IS NULL AND line_kind = 'commission'"),
            postgresql_where=text("wallet_address IS NULL AND line_kind = 'commission'"),
        ),
        Index(
            "idx_partner_commission_lines_adjustments",
            "agreement_id",
            "period_id",
            sqlite_where=text("line_kind = 'adjustment'"),
            postgresql_where=text("line_kind = 'adjustment'"),
        ),
        Index(
            "idx_partner_commission_lines_adjustment_run",
            "run_id",
            sqlite_where=text("line_kind = 'adjustment'"),
            postgresql_where=text("line_kind = 'adjustment'"),
        ),
    )


class CommissionExclusion(db.Model):
    """Why a wallet earned nothing in a committed run, and the reward it held back.

    One row per (period, wallet, validator, reason): the components one reason held back
    are summed (`exclusion_count` says how many reward rows that was) and named in
    `revenue_component` (`vocab.joined_components`: "MEV+REWARDS"). Wallet-level reasons
    name no validator and no component; the total-revenue method's `no rule` rows name no
    wallet. Rows committed before the component was stored name none either (empty in the
    run's file) until a commit rewrites their pair.
    """

    __tablename__ = "commission_exclusions"

    exclusion_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("commission_runs.run_id", ondelete="CASCADE"), nullable=False
    )
    agreement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agreements.agreement_id", ondelete="CASCADE"), nullable=False
    )
    period_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("canonical_periods.period_id", ondelete="CASCADE"), nullable=False
    )
    wallet_address: Mapped[str | None] = mapped_column(String(100), nullable=True)
    validator_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    revenue_component: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reason: Mapped[str] = mapped_column(String(100), nullable=False)
    exclusion_count: Mapped[int] = mapped_column(
        Integer, nullable=False, default=1, server_default=text("1")
    )
    held_back_amount_native: Mapped[Decimal] = mapped_column(Amount, nullable=False)

    __table_args__ = (
        Index("idx_commission_exclusions_agreement_period", "agreement_id", "period_id"),
        # One wallet's exclusions under an agreement, for its explanation (whichever run
        # wrote them: a recommit leaves unchanged pairs' rows as they are).
        Index("idx_commission_exclusions_agreement_wallet", "agreement_id", "wallet_address"),
    )


class ApiToken(db.Model):
    """A bearer token of the JSON API: only its SHA-256 is stored; revoked, never deleted."""

    __tablename__ = "api_tokens"

    token_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    scope: Mapped[str] = mapped_column(String(10), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        CheckConstraint(sql_in("scope", TokenScope), name="ck_api_tokens_scope"),
        CheckConstraint("name <> ''", name="ck_api_tokens_name_not_empty"),
        # A name is unique among a user's live tokens; a revoked token frees its name.
        Index(
            "uq_api_tokens_user_name_live",
            "user_id",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )


class ApiIdempotencyKey(db.Model):
    """The first answer to a POST sent with an `Idempotency-Key`, to give again on a retry.

    `status_code` is NULL while the first request is still being worked on.
    """

    __tablename__ = "api_idempotency_keys"

    key_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False
    )
    idempotency_key: Mapped[str] = mapped_column(String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_api_idempotency_keys_user_key"),
        Index("idx_api_idempotency_keys_created_at", "created_at"),
    )


class Job(db.Model):
    """Long work (a commission commit, an import) queued by a page and run by `flask jobs work`.

    The table is the queue: a worker claims a queued job, or a running one whose lease ran out
    (its worker died), and writes its progress, heartbeat and outcome in short transactions of
    their own. `claim` changes on every claim, so a worker that lost its lease writes nothing.
    """

    __tablename__ = "jobs"

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    parameters: Mapped[dict] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=JobStatus.QUEUED)
    progress_done: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    progress_total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: What the work made: {"url": where to go, "summary": one sentence}.
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    claim: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.user_id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint(sql_in("status", JobStatus), name="ck_jobs_status"),
        Index("idx_jobs_status_created", "status", "created_at"),
    )
