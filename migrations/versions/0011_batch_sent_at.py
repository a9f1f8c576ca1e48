"""Record when each batch's chunks were last sent to the workers.

The sweeper counts a batch as stalled only when neither a request finished nor its chunks
were sent within the stall time, so one sweep does not send again what the last one sent.
Batches from before this revision have no time and are judged by their requests alone.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_column("sent_at")
