"""A standup's roster: the channel's members as the platform lists them, and the
people the team added or removed by command.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "standup_roster",
        sa.Column("config_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("refreshed_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["config_id"], ["standup_config.id"]),
        sa.PrimaryKeyConstraint("config_id"),
    )
    op.create_table(
        "standup_roster_member",
        sa.Column("config_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("choice", sa.String(length=8), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["config_id"], ["standup_config.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("config_id", "member_id"),
    )


def downgrade() -> None:
    op.drop_table("standup_roster_member")
    op.drop_table("standup_roster")
