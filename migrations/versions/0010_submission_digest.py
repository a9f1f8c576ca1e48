"""Record a digest of what each batch with an idempotency key was submitted with.

A second submit with the same key and different campaigns is then refused instead of
returning the first batch. Batches created before this revision keep a null digest, and
their key returns them whatever is submitted with it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.add_column(sa.Column("submission_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_column("submission_digest")
