"""Scheduler: find the runs of a day without scanning every run ever claimed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schedule_run", schema=None) as batch_op:
        batch_op.create_index("ix_schedule_run_occurrence", ["occurrence"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("schedule_run", schema=None) as batch_op:
        batch_op.drop_index("ix_schedule_run_occurrence")
