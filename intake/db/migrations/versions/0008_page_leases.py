"""page leases: who is reading a page (claimed_by) and until when the claim holds unless renewed
(lease_until), so a page whose worker died is read again within seconds, not after the task time
limit (issue 12, item 3); indexes on (status, batch_id) and (batch_id, started_at) for the fair
order's count of queued pages and last claim per batch (item 2)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pages") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
    op.create_index("ix_pages_status_batch_id", "pages", ["status", "batch_id"], unique=False)
    op.create_index("ix_pages_batch_id_started_at", "pages", ["batch_id", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pages_batch_id_started_at", table_name="pages")
    op.drop_index("ix_pages_status_batch_id", table_name="pages")
    with op.batch_alter_table("pages") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("lease_until")
