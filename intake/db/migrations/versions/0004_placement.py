"""placement: pages a supervisor placed (page_placements), and two page states: blank, set_aside

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_STATES = ("queued", "processing", "read", "unidentified", "unregistered", "unreadable_file", "failed",
              "cancelled")
NEW_STATES = ("queued", "processing", "read", "unidentified", "unregistered", "unreadable_file", "blank", "failed",
              "cancelled", "set_aside")


def _states(states: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(s) for s in states)})"


def upgrade() -> None:
    op.create_table(
        "page_placements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("template_page", sa.Integer(), nullable=False),
        sa.Column("points", JSON, nullable=True),
        sa.Column("placed_by_id", sa.Integer(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], name=op.f("fk_page_placements_page_id_pages"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["placed_by_id"], ["users.id"], name=op.f("fk_page_placements_placed_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_placements")),
        sa.UniqueConstraint("page_id", name=op.f("uq_page_placements_page_id")),
    )
    # SQLite cannot alter a CHECK constraint: batch mode copies the table (migrations run with
    # foreign keys off, so the copy cascades nothing); PostgreSQL alters it in place.
    with op.batch_alter_table("pages") as batch:
        batch.drop_constraint(op.f("ck_pages_status"), type_="check")
        batch.create_check_constraint(op.f("ck_pages_status"), _states(NEW_STATES))


def downgrade() -> None:
    op.execute("UPDATE pages SET status = 'unidentified' WHERE status IN ('blank', 'set_aside')")
    with op.batch_alter_table("pages") as batch:
        batch.drop_constraint(op.f("ck_pages_status"), type_="check")
        batch.create_check_constraint(op.f("ck_pages_status"), _states(OLD_STATES))
    op.drop_table("page_placements")
