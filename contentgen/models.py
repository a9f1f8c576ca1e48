"""Database tables. The schema itself is created and changed only by the Alembic migrations."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

JSONType = JSON().with_variant(JSONB(), "postgresql")


# Every id column is INTEGER (32-bit on PostgreSQL) and ids are assigned from 1 up, so no
# row has an id outside 1..MAX_ID. PostgreSQL rejects a query that compares an id column
# with a larger value ("integer out of range").
MAX_ID = 2**31 - 1


def id_in_range(value: int) -> bool:
    """Return whether ``value`` can be a row's id; look a value up only if it can."""
    return 1 <= value <= MAX_ID


def utcnow() -> datetime:
    return datetime.now(UTC)


def stored_utc(moment: datetime | None) -> datetime | None:
    """Read a stored timestamp as UTC; SQLite returns them naive, always written in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_iso(moment: datetime | None) -> str | None:
    """Format a stored timestamp as ISO 8601 with its UTC offset, the same on every database."""
    aware = stored_utc(moment)
    return aware.isoformat() if aware is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType}


def _enum(enum_class: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK constraint, the same on SQLite and PostgreSQL.
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
    )


class BatchStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class RequestStatus(str, enum.Enum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DraftStatus(str, enum.Enum):
    PENDING_REVIEW = "pending_review"
    FLAGGED = "flagged"
    APPROVED = "approved"
    REJECTED = "rejected"


class Trigger(str, enum.Enum):
    MANUAL = "manual"
    SCHEDULE = "schedule"


class ScheduleRunStatus(str, enum.Enum):
    # The batch is committed; its chunks have not been handed to workers yet.
    CREATED = "created"
    # The batch's chunks were sent to the workers, or run in the dispatching process.
    DISPATCHED = "dispatched"
    # No batch: an older missed slot under catch-up "latest", or refresh mode "unapproved"
    # found an approved draft for every slot of the campaign.
    SKIPPED = "skipped"
    # No batch: creating it failed on the campaign's input (see detail); not retried.
    FAILED = "failed"


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    voice: Mapped[str] = mapped_column(Text, default="")
    banned_terms: Mapped[list[Any]] = mapped_column(default=list)
    required_terms: Mapped[list[Any]] = mapped_column(default=list)
    # Claim words that need substantiation; a draft with one gets an advisory check.
    claim_terms: Mapped[list[Any]] = mapped_column(default=list)
    # Keys of built-in rule packs (contentgen.rules.RULE_PACKS) this brand switched off.
    disabled_rule_packs: Mapped[list[Any]] = mapped_column(default=list)
    # Channel key to length limit, replacing the channel's own limit for this brand.
    channel_limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class PromptTemplate(Base):
    """One version of a prompt template file; a changed file adds a version."""

    __tablename__ = "prompt_templates"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    name: Mapped[str] = mapped_column(String(200))
    # The validated campaign as written in its file: product, segments, channels,
    # variants, locale, generation parameters and schedule.
    spec: Mapped[dict[str, Any]] = mapped_column()
    # A paused schedule creates no batches; resuming does not run the slots it missed.
    schedule_paused: Mapped[bool] = mapped_column(default=False)
    # Schedule slots at or before this instant are never due: it is when the schedule's
    # cron or time zone was last set by an import, or when it was last resumed. None
    # exactly when the campaign has no schedule.
    schedule_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    brand: Mapped[Brand] = relationship()


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # SHA-256 (hex) of what was submitted under the idempotency key: the files' brand and
    # campaign definitions, or the campaign keys. Null for batches without a key, scheduled
    # batches, and batches created before revision 0010.
    submission_digest: Mapped[str | None] = mapped_column(String(64))
    trigger: Mapped[Trigger] = mapped_column(_enum(Trigger, "batch_trigger"))
    status: Mapped[BatchStatus] = mapped_column(_enum(BatchStatus, "batch_status"))
    request_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When its chunks were last sent to the workers; None until then, or when no broker
    # runs them.
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Warnings about stored fields that importing the submitted files cleared because the
    # files leave them out, as ``contentgen.cleared_fields.to_stored`` writes them. An empty
    # list when there were none. Null for scheduled batches and for batches created before
    # revision 0012.
    import_warnings: Mapped[list[Any] | None] = mapped_column()


class GenerationRequest(Base):
    """One draft to write: campaign x segment x channel x variant within a batch."""

    __tablename__ = "generation_requests"
    __table_args__ = (
        UniqueConstraint("batch_id", "campaign_id", "segment", "channel", "variant"),
        Index("ix_generation_requests_batch_status", "batch_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    segment: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(100))
    variant: Mapped[int] = mapped_column(Integer)
    template_id: Mapped[int] = mapped_column(ForeignKey("prompt_templates.id"))
    prompt: Mapped[str] = mapped_column(Text)
    # temperature, top_p, max_new_tokens and seed.
    params: Mapped[dict[str, Any]] = mapped_column()
    # Brand key, campaign name, segment name, locale and final URL (None without
    # product.url) as they were when the batch was created, which exports show for the
    # draft (see contentgen.campaign_snapshots). Null for requests created before revision
    # 0015.
    campaign_snapshot: Mapped[dict[str, Any] | None] = mapped_column()
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus, "request_status"))
    # Times a chunk holding this request was started; see Settings.max_attempts.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    campaign: Mapped[Campaign] = relationship()
    template: Mapped[PromptTemplate] = relationship()


class Draft(Base):
    """Generated copy waiting for, or past, review. One per request at most."""

    __tablename__ = "drafts"
    __table_args__ = (Index("ix_drafts_batch_status", "batch_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: a redelivered chunk can never give a request a second draft.
    request_id: Mapped[int] = mapped_column(
        ForeignKey("generation_requests.id", ondelete="CASCADE"), unique=True
    )
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    status: Mapped[DraftStatus] = mapped_column(_enum(DraftStatus, "draft_status"))
    text: Mapped[str] = mapped_column(Text)
    # The model's text when a reviewer edited it; None while unedited.
    original_text: Mapped[str | None] = mapped_column(Text)
    template_id: Mapped[int] = mapped_column(ForeignKey("prompt_templates.id"))
    model_name: Mapped[str] = mapped_column(String(300))
    model_revision: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column()
    seed: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    # "stop" when the model ended its turn, "length" when max_new_tokens cut it off.
    finish_reason: Mapped[str] = mapped_column(String(20))
    # Wall time of the batched generate call that produced this draft, and its row count.
    generation_ms: Mapped[int] = mapped_column(Integer)
    chunk_size: Mapped[int] = mapped_column(Integer)
    # Quality score for sorting the review queue, higher is better; None until scored.
    score: Mapped[float | None] = mapped_column(Float)
    # Mean log-probability of the output tokens under the model; None if not reported.
    mean_logprob: Mapped[float | None] = mapped_column(Float)
    # Times the text was generated again with a new seed because it failed a check.
    regenerations: Mapped[int] = mapped_column(Integer, default=0)
    # Optimistic locking for concurrent reviewers.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    request: Mapped[GenerationRequest] = relationship()
    template: Mapped[PromptTemplate] = relationship()
    checks: Mapped[list[DraftCheck]] = relationship(
        back_populates="draft", cascade="all, delete-orphan", order_by="DraftCheck.id"
    )

    __mapper_args__ = {"version_id_col": version}


class DraftCheck(Base):
    """The result of one automated check on a draft, one row per check so SQL can filter."""

    __tablename__ = "draft_checks"
    __table_args__ = (Index("ix_draft_checks_name_passed", "name", "passed"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    passed: Mapped[bool] = mapped_column()
    # A failed blocking check keeps the draft out of pending_review (it is flagged); a
    # failed advisory check is shown to the reviewer only.
    blocking: Mapped[bool] = mapped_column(default=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    # The detail as ``contentgen.i18n.Message.to_json`` writes it, for showing it translated;
    # null for a result without detail and for rows older than this column.
    detail_message: Mapped[str | None] = mapped_column(Text)

    draft: Mapped[Draft] = relationship(back_populates="checks")


class User(Base):
    """A person who uses the review pages, the API or the review commands."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    # "marketer", "reviewer" or "admin"; see contentgen.users.ROLE_PERMISSIONS.
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Copied into each page session cookie at login. Disabling the user raises it, so every
    # cookie signed before then is rejected, even after the user is enabled again.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The language of the pages, a key of contentgen.i18n.LOCALES; None follows the browser.
    locale: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# Names that differ only in case would look like one person in the review history.
Index("ux_users_username_lower", func.lower(User.username), unique=True)


class ApiToken(Base):
    """A bearer token for the JSON API. Only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship()


class ReviewEvent(Base):
    """One review action on a draft, kept as the draft's audit trail."""

    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # "approve", "reject" or "edit" (an edit approves the edited text).
    action: Mapped[str] = mapped_column(String(20))
    status_before: Mapped[str] = mapped_column(String(32))
    status_after: Mapped[str] = mapped_column(String(32))
    # The reason of a rejection, or the reviewer's comment on an edit.
    note: Mapped[str | None] = mapped_column(Text)
    # For a bulk action on every draft matching a filter: the ``selection_digest`` of the
    # drafts it acted on, by which the same form sent again finds this event.
    selection_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    actor: Mapped[User | None] = relationship()


class ScheduleRun(Base):
    """One schedule slot of a campaign; the unique key makes a second dispatch harmless."""

    __tablename__ = "schedule_runs"
    __table_args__ = (
        UniqueConstraint("campaign_id", "slot_at"),
        Index("ix_schedule_runs_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    # The slot's instant in UTC (see contentgen.schedules for local times around DST).
    slot_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[ScheduleRunStatus] = mapped_column(
        _enum(ScheduleRunStatus, "schedule_run_status")
    )
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    # Why the slot was skipped or failed; None for a created batch.
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    campaign: Mapped[Campaign] = relationship()
