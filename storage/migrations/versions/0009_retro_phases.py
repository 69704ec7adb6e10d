"""Retro phases: a retro's phase and template; an action's due date; notes in groups.

Retros opened before this release showed every note as it was written, so an open one
continues in the vote phase (nothing is hidden again) with the kinds it was written in
(well, improve, idea: the `classic` template).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("retro", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("phase", sa.String(length=8), server_default="reflect", nullable=False)
        )
        batch_op.add_column(
            sa.Column("template", sa.String(length=8), server_default="ww", nullable=False)
        )
    op.execute("UPDATE retro SET phase = 'vote', template = 'classic'")
    with op.batch_alter_table("retro_note", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("grouped_into", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("group_title", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("retro_note", schema=None) as batch_op:
        batch_op.drop_column("group_title")
        batch_op.drop_column("grouped_into")
        batch_op.drop_column("due")
    with op.batch_alter_table("retro", schema=None) as batch_op:
        batch_op.drop_column("template")
        batch_op.drop_column("phase")
