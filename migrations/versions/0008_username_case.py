"""Make usernames unique regardless of case, so that "rita" and "Rita" cannot both exist.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    clashes = op.get_bind().execute(
        sa.text(
            "SELECT lower(username) AS name, count(*) FROM users GROUP BY lower(username) "
            "HAVING count(*) > 1 ORDER BY name"
        )
    ).all()
    if clashes:
        names = ", ".join(name for name, _ in clashes)
        raise RuntimeError(
            f"usernames differ only in case for: {names}; rename all but one of each, e.g. "
            "UPDATE users SET username = 'rita2' WHERE username = 'Rita', then run "
            "contentgen db upgrade again"
        )
    op.create_index("ux_users_username_lower", "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index("ux_users_username_lower", table_name="users")
