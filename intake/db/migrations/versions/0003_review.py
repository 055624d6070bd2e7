"""review station: verified fields, corrections with their readings, claims, urgency, spot checks

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("reason_codes", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("spot_check", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("rejection_reason", sa.Text(), nullable=True))
    op.create_index(op.f("ix_records_status_urgent_created_at"), "records", ["status", "urgent", "created_at"],
                    unique=False)
    with op.batch_alter_table("record_fields") as batch:
        batch.add_column(sa.Column("reading", JSON, nullable=True))
    op.create_table(
        "field_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_value", JSON, nullable=True),
        sa.Column("to_value", JSON, nullable=True),
        sa.Column("machine_value", JSON, nullable=True),
        sa.Column("machine_status", sa.String(length=16), nullable=False),
        sa.Column("reading", JSON, nullable=True),
        sa.Column("crop_key", sa.String(length=255), nullable=True),
        sa.Column("spot_check", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('confirmed', 'corrected')", name=op.f("ck_field_corrections_kind")),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_field_corrections_record_id_records"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_field_corrections_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_corrections")),
    )
    op.create_index(op.f("ix_field_corrections_record_id"), "field_corrections", ["record_id"], unique=False)
    op.create_index(op.f("ix_field_corrections_at"), "field_corrections", ["at"], unique=False)
    op.create_table(
        "review_claims",
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_review_claims_record_id_records"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_review_claims_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_review_claims")),
    )
    op.create_index(op.f("ix_review_claims_expires_at"), "review_claims", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_review_claims_expires_at"), table_name="review_claims")
    op.drop_table("review_claims")
    op.drop_index(op.f("ix_field_corrections_at"), table_name="field_corrections")
    op.drop_index(op.f("ix_field_corrections_record_id"), table_name="field_corrections")
    op.drop_table("field_corrections")
    with op.batch_alter_table("record_fields") as batch:
        batch.drop_column("reading")
    op.drop_index(op.f("ix_records_status_urgent_created_at"), table_name="records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("rejection_reason")
        batch.drop_column("spot_check")
        batch.drop_column("reason_codes")
        batch.drop_column("urgent")
