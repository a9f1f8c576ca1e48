"""Store automated check results, a quality score and the regeneration count per draft.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drafts") as batch_op:
        batch_op.add_column(sa.Column("score", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("regenerations", sa.Integer(), nullable=False, server_default="0")
        )

    op.create_table(
        "draft_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("blocking", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["draft_id"], ["drafts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_draft_checks_draft_id", "draft_checks", ["draft_id"])
    op.create_index("ix_draft_checks_name_passed", "draft_checks", ["name", "passed"])


def downgrade() -> None:
    op.drop_index("ix_draft_checks_name_passed", table_name="draft_checks")
    op.drop_index("ix_draft_checks_draft_id", table_name="draft_checks")
    op.drop_table("draft_checks")
    with op.batch_alter_table("drafts") as batch_op:
        batch_op.drop_column("regenerations")
        batch_op.drop_column("score")
