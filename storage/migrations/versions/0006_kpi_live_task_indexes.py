"""KPIs at a million tasks: partial indexes over live (not deleted) tasks.

The digest's burndown counts the tasks created and done before its first day,
and its KPIs read the open ones; over these indexes each is an index-only range
instead of a pass over every row of the project (bench/README.md, "KPI digest").

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ALIVE = sa.text("deleted_at IS NULL")
INDEXES = {
    "ix_task_project_alive_created": ["project_id", "created_at"],
    "ix_task_project_alive_done": ["project_id", "done_at"],
    "ix_task_project_alive_status": [
        "project_id", "status", "kind", "due", "created_at", "blocked_at",
    ],
}  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(
                name, columns, unique=False, sqlite_where=ALIVE, postgresql_where=ALIVE
            )


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
