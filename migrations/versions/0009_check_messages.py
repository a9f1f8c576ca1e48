"""Store each check result's detail as a translatable message beside its English text.

Rows written before this revision keep a null message, and the review pages show their
English detail.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("draft_checks") as batch_op:
        batch_op.add_column(sa.Column("detail_message", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("draft_checks") as batch_op:
        batch_op.drop_column("detail_message")
