"""Record on each review event the digest of the drafts that a filter-wide bulk action saw.

A queue form with "approve all matching" sent twice finds the second time that the filter
matches other drafts. The digest lets it recognise its own earlier action and report those
drafts as already decided instead of as a conflict. Events from before this revision, and
events of any other action, have no digest.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_events") as batch_op:
        batch_op.add_column(sa.Column("selection_digest", sa.String(64), nullable=True))
        batch_op.create_index("ix_review_events_selection_digest", ["selection_digest"])


def downgrade() -> None:
    with op.batch_alter_table("review_events") as batch_op:
        batch_op.drop_index("ix_review_events_selection_digest")
        batch_op.drop_column("selection_digest")
