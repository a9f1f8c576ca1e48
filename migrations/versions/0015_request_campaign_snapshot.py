"""Store with each generation request the campaign values that describe its draft.

Exports and draft details read a draft's brand, campaign name, segment name, locale and
final URL from its campaign. After the campaign was imported again with other values, an
English draft was exported as de-DE with the new URL. Each request now keeps the values
its batch was created with. Requests created before this revision have null, and their
drafts are still described by the campaign as it is now.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("generation_requests") as batch_op:
        batch_op.add_column(sa.Column("campaign_snapshot", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("generation_requests") as batch_op:
        batch_op.drop_column("campaign_snapshot")
