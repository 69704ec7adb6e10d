"""Who may do what (DESIGN.md, "Permissions"), decided here and nowhere else.

- MEMBER: anyone in a bound channel (create tasks, comment, answer standups,
  add retro notes, read anything).
- TASK_EDIT: a task's status, due date and assignees: its creator, its R and A
  members, and project admins.
  (Claiming a task that has no R yet is for anyone: `/task claim` itself refuses a task
  that has one, naming its R, whoever asks; adding people is `/task assign` or `/raci`.)
- TASK_RACI: a task's RACI roles: its A, its creator while it has no A, and
  admins.
- ADMIN: schedules, KPI targets, deletions, links, exports, milestones,
  project settings (language, time zone) and the admin list itself.
"""

from __future__ import annotations

from enum import StrEnum

from commands.errors import CommandError
from storage.enums import Role
from storage.models import Task


class Permission(StrEnum):
    MEMBER = "member"
    TASK_EDIT = "task_edit"
    TASK_RACI = "task_raci"
    ADMIN = "admin"


def allowed(
    permission: Permission,
    *,
    member_id: int,
    is_admin: bool,
    task: Task | None = None,
    roles: dict[str, list[int]] | None = None,
) -> bool:
    if permission is Permission.MEMBER or is_admin:
        return True
    if permission is Permission.ADMIN:
        return False
    if task is None or roles is None:
        raise ValueError(f"{permission} needs the task and its roles")
    is_creator = task.creator_id == member_id
    if permission is Permission.TASK_EDIT:
        return is_creator or member_id in roles[Role.R.value] or member_id in roles[Role.A.value]
    if permission is Permission.TASK_RACI:
        accountable = roles[Role.A.value]
        return member_id in accountable or (is_creator and not accountable)
    raise AssertionError(permission)


def who_may(
    permission: Permission, *, task: Task | None, roles: dict[str, list[int]] | None
) -> list[int]:
    """Besides the admins, the members a refusal can name as able to help: for a task,
    its creator, R and A (TASK_EDIT) or its A, else its creator (TASK_RACI)."""
    if task is None or roles is None or permission in (Permission.MEMBER, Permission.ADMIN):
        return []
    if permission is Permission.TASK_RACI:
        found = roles[Role.A.value] or [task.creator_id]
    else:
        found = [task.creator_id, *roles[Role.R.value], *roles[Role.A.value]]
    return list(dict.fromkeys(found))


def authorize(
    permission: Permission,
    *,
    member_id: int,
    is_admin: bool,
    task: Task | None = None,
    roles: dict[str, list[int]] | None = None,
) -> None:
    """Raise the user-facing refusal when `allowed` says no."""
    if not allowed(permission, member_id=member_id, is_admin=is_admin, task=task, roles=roles):
        # Who can help is named by the router, which has the session to look them up.
        raise CommandError(
            "denied", need=permission.value, people=[], people_more=0, admins=[], admins_more=0
        )
