"""done_at only while done: tasks moved out of done before this release kept their done_at.

`/task start` and `/task block` on a done task left `done_at` set, so /kpi counted the
task as done (and a bug as fixed and open at once) and the export disagreed with the
status. From now on `done_at` is set exactly while a task is done; this clears the
leftovers. Nothing to undo: the cleared values were wrong.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE task SET done_at = NULL WHERE status <> 'done' AND done_at IS NOT NULL")


def downgrade() -> None:
    pass
