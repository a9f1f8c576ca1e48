"""Store campaign locales in the usual BCP 47 letter case.

Imports store a locale as "zh-CN" since this revision, whatever case the file wrote it in.
Campaigns imported before it keep "zh-cn" or "EN-us" as written, which lists and exports
show, so this revision rewrites them the same way. The downgrade keeps the new case,
which older code reads as well.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def canonical_case(tag: str) -> str:
    """Return a BCP 47 tag in the letter case of RFC 5646, section 2.1.1: lowercase, except
    two-letter subtags (regions) in uppercase and four-letter subtags (scripts) in titlecase,
    neither for the first subtag nor after a singleton such as "x".

    The same rule as the importer's, copied so that this revision does not change when the
    application code does.
    """
    language, *rest = tag.split("-")
    parts = [language.lower()]
    after_singleton = False
    for part in rest:
        after_singleton = after_singleton or len(part) == 1
        if not after_singleton and len(part) == 2:
            parts.append(part.upper())
        elif not after_singleton and len(part) == 4:
            parts.append(part.title())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def upgrade() -> None:
    # The spec is read in Python because SQLite and PostgreSQL query JSON differently.
    campaigns = sa.table(
        "campaigns",
        sa.column("id", sa.Integer()),
        sa.column("spec", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    )
    bind = op.get_bind()
    for campaign_id, spec in bind.execute(sa.select(campaigns.c.id, campaigns.c.spec)).all():
        locale = (spec or {}).get("locale")
        if isinstance(locale, str) and canonical_case(locale) != locale:
            spec = {**spec, "locale": canonical_case(locale)}
            bind.execute(campaigns.update().where(campaigns.c.id == campaign_id).values(spec=spec))


def downgrade() -> None:
    pass
