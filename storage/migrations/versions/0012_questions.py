"""Standup questions of a team's own, their answers, and "later" snoozes.

A standup's `questions` (None: the default three) and a report's `answers` to them are
new and empty: every existing standup keeps asking the default questions, and every
existing report keeps its yesterday/today/blockers. `standup_snooze` holds the "ask me
again in 30 minutes" of a day.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("standup_config", schema=None) as batch_op:
        batch_op.add_column(sa.Column("questions", sa.JSON(), nullable=True))
    with op.batch_alter_table("standup_report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answers", sa.JSON(), nullable=True))
    op.create_table(
        "standup_snooze",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["config_id"], ["standup_config.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("config_id", "member_id", "day", "number"),
    )
    with op.batch_alter_table("standup_snooze", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_standup_snooze_config_id"), ["config_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("standup_snooze", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_standup_snooze_config_id"))
    op.drop_table("standup_snooze")
    with op.batch_alter_table("standup_report", schema=None) as batch_op:
        batch_op.drop_column("answers")
    with op.batch_alter_table("standup_config", schema=None) as batch_op:
        batch_op.drop_column("questions")
