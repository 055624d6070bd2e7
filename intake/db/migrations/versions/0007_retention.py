"""retention: a legal hold on records; when an original's stored files were purged

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as b:
        b.add_column(sa.Column("legal_hold", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("originals") as b:
        b.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("originals") as b:
        b.drop_column("purged_at")
    with op.batch_alter_table("records") as b:
        b.drop_column("legal_hold")
