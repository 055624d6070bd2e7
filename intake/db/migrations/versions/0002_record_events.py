"""record events: every change to a record (its history, and the outbox for downstream delivery)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KINDS = ("created", "updated", "corrected", "approved", "rejected", "reopened", "superseded")


def upgrade() -> None:
    op.create_table(
        "record_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.CheckConstraint(f"kind IN ({', '.join(repr(k) for k in KINDS)})",
                           name=op.f("ck_record_events_kind")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_record_events_record_id_records"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_events")),
    )
    op.create_index(op.f("ix_record_events_record_id"), "record_events", ["record_id"], unique=False)
    op.create_index(op.f("ix_record_events_revision"), "record_events", ["revision"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_record_events_revision"), table_name="record_events")
    op.drop_index(op.f("ix_record_events_record_id"), table_name="record_events")
    op.drop_table("record_events")
