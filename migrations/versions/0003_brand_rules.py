"""Store brand claim terms, switched-off rule packs and channel limits, and token log-probability.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("brands") as batch_op:
        batch_op.add_column(
            sa.Column("claim_terms", JSON, nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(
            sa.Column("disabled_rule_packs", JSON, nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(
            sa.Column("channel_limits", JSON, nullable=False, server_default=sa.text("'{}'"))
        )

    with op.batch_alter_table("drafts") as batch_op:
        batch_op.add_column(sa.Column("mean_logprob", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drafts") as batch_op:
        batch_op.drop_column("mean_logprob")

    with op.batch_alter_table("brands") as batch_op:
        batch_op.drop_column("channel_limits")
        batch_op.drop_column("disabled_rule_packs")
        batch_op.drop_column("claim_terms")
