"""Standups by DM: a standup's mode and where finished reports go; the questions being
asked of each member one to one.

Standups set up before this release keep prompting in their channel (`mode` channel).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("standup_config", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sa.String(length=8), server_default="channel", nullable=False)
        )
        batch_op.add_column(
            sa.Column("post", sa.String(length=8), server_default="each", nullable=False)
        )
    op.create_table(
        "standup_dm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("until", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("snoozed_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("snoozes", sa.Integer(), nullable=False),
        sa.Column("finished_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["config_id"], ["standup_config.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("config_id", "member_id", "day"),
    )
    with op.batch_alter_table("standup_dm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_standup_dm_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("standup_dm", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_standup_dm_member_id"))
    op.drop_table("standup_dm")
    with op.batch_alter_table("standup_config", schema=None) as batch_op:
        batch_op.drop_column("post")
        batch_op.drop_column("mode")
