"""Allow cancelled batches and requests.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The status columns are strings with a CHECK constraint named after their enum.
CONSTRAINTS = {
    ("batches", "batch_status"): ("pending", "running", "completed"),
    ("generation_requests", "request_status"): ("pending", "done", "failed"),
}


def _replace_check(table: str, name: str, values: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{value}'" for value in values)
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, f"status IN ({allowed})")


def upgrade() -> None:
    for (table, name), values in CONSTRAINTS.items():
        _replace_check(table, name, (*values, "cancelled"))


def downgrade() -> None:
    for (table, name), values in CONSTRAINTS.items():
        op.execute(f"UPDATE {table} SET status = 'failed' WHERE status = 'cancelled'"
                   if table == "generation_requests"
                   else f"UPDATE {table} SET status = 'completed' WHERE status = 'cancelled'")
        _replace_check(table, name, values)
