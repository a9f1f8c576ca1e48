"""Pause flag and start time for campaign schedules; typed schedule run states.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RUN_STATUSES = ("created", "dispatched", "skipped", "failed")


def _status_type() -> sa.Enum:
    # A VARCHAR with a CHECK constraint, like every status column since 0001.
    return sa.Enum(
        *RUN_STATUSES,
        name="schedule_run_status",
        native_enum=False,
        create_constraint=True,
        length=32,
    )


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.add_column(
            sa.Column("schedule_paused", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("schedule_since", sa.DateTime(timezone=True), nullable=True))
    _start_imported_schedules()

    # No code wrote schedule runs before this revision, so no stored status can break the
    # new CHECK constraint.
    with op.batch_alter_table("schedule_runs") as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=20),
            type_=_status_type(),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column("detail", sa.Text(), nullable=True))
        batch_op.create_index("ix_schedule_runs_status", ["status"])


def _start_imported_schedules() -> None:
    # Schedules imported before this revision start now, so that the first dispatch after
    # the upgrade runs no slot from before it. The spec is read in Python because SQLite
    # and PostgreSQL query JSON differently.
    campaigns = sa.table(
        "campaigns",
        sa.column("id", sa.Integer()),
        sa.column("spec", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
        sa.column("schedule_since", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(campaigns.c.id, campaigns.c.spec)).all()
    scheduled = [row.id for row in rows if (row.spec or {}).get("schedule")]
    if scheduled:
        bind.execute(
            campaigns.update()
            .where(campaigns.c.id.in_(scheduled))
            .values(schedule_since=datetime.now(UTC))
        )


def downgrade() -> None:
    with op.batch_alter_table("schedule_runs") as batch_op:
        batch_op.drop_index("ix_schedule_runs_status")
        batch_op.drop_column("detail")
        batch_op.alter_column(
            "status",
            existing_type=_status_type(),
            type_=sa.String(length=20),
            existing_nullable=False,
        )
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.drop_column("schedule_since")
        batch_op.drop_column("schedule_paused")
