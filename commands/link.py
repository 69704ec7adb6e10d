"""/teambot link: one project for a Slack channel and a Feishu group, one person for two accounts.

`/teambot link` (admins) gives a one-time code; `/teambot link <code>` in a
channel elsewhere binds that channel to the code's project. `/teambot link me`
gives a personal code; `/teambot link me <code>` on the other platform makes
both accounts one person.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from commands.common import join_people
from commands.context import Ctx
from commands.errors import CommandError
from commands.permissions import Permission, authorize
from commands.registry import Args
from commands.types import Notification, Reply, Tone, Visibility
from storage import repo
from storage.enums import LinkKind
from storage.models import LinkCode, Member, Project

# No 0/O or 1/I: a code read aloud or copied by hand stays unambiguous.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
VALID_MINUTES = 15
VALID_FOR = timedelta(minutes=VALID_MINUTES)
_ME_WORDS = {"me", "我"}
_TRIES = 5


def link(ctx: Ctx, args: Args) -> Reply:
    words = args.words
    if words and words[0].lower() in _ME_WORDS:
        typed = "".join(words[1:])
        return _link_person(ctx, typed) if typed else _issue(ctx, LinkKind.PERSON)
    typed = "".join(words)
    if typed:
        return _link_channel(ctx, typed)
    authorize(Permission.ADMIN, member_id=ctx.member_id, is_admin=ctx.is_admin)
    return _issue(ctx, LinkKind.CHANNEL)


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _issue(ctx: Ctx, kind: LinkKind) -> Reply:
    for _ in range(_TRIES):
        row = repo.add_link_code(
            ctx.session,
            code=new_code(),
            kind=kind.value,
            project_id=ctx.project_id if kind is LinkKind.CHANNEL else None,
            member_id=ctx.member_id,
            created_at=ctx.now,
            expires_at=ctx.now + VALID_FOR,
        )
        if row is not None:
            break
    else:  # 32**8 codes: five collisions in a row mean something else is wrong
        raise RuntimeError("could not draw an unused link code")
    key = "link.channel_code" if kind is LinkKind.CHANNEL else "link.person_code"
    return Reply(
        title=ctx.t(f"{key}_title", code=row.code, project=ctx.project.name),
        lines=ctx.t_lines(key, code=row.code, minutes=VALID_MINUTES),
    )


def _valid_code(ctx: Ctx, typed: str, kind: LinkKind) -> LinkCode:
    """The unused, unexpired code of `kind` that was typed, else the reason it is not."""
    code = typed.replace("-", "").upper()
    row = repo.find_link_code(ctx.session, code=code)
    if row is None:
        raise CommandError("link_unknown", code=typed)
    if row.kind != kind.value:
        raise CommandError("link_wrong_kind", code=row.code, kind=row.kind)
    if row.used_at is not None:
        raise CommandError("link_used", code=row.code)
    if ctx.now >= row.expires_at:
        raise CommandError("link_expired", code=row.code, minutes=VALID_MINUTES)
    return row


def _use(ctx: Ctx, row: LinkCode) -> None:
    assert row.id is not None
    if not repo.use_link_code(ctx.session, code_id=row.id, at=ctx.now):
        raise CommandError("link_used", code=row.code)


def _link_channel(ctx: Ctx, typed: str) -> Reply:
    """Bind this channel to the code's project. The channel's own project must consent: only
    its admins may move it (a channel's first command makes its author admin, so a channel
    nobody used before is free to link), and it must hold nothing a link would leave behind.
    The channel's binding and project are locked first, so links racing for one channel
    queue; a refusal changes nothing and keeps the code."""
    row = _valid_code(ctx, typed, LinkKind.CHANNEL)
    assert row.project_id is not None
    ctx.binding = repo.lock_binding(ctx.session, binding=ctx.binding)
    target = ctx.session.get_one(Project, row.project_id)
    if target.id == ctx.binding.project_id:
        raise CommandError("link_same_project", project=target.name)
    old = ctx.session.get_one(Project, ctx.binding.project_id)
    assert target.id is not None and old.id is not None
    repo.lock_project(ctx.session, project_id=old.id)
    admins = sorted(repo.admin_ids(ctx.session, project_id=old.id))
    if ctx.member_id not in admins:
        names = ctx.people(admins)
        raise CommandError(
            "link_needs_admin",
            project=old.name,
            admins=join_people(names[m] for m in admins if m in names),
        )
    tasks, milestones, other = repo.project_work(ctx.session, project_id=old.id)
    if tasks or milestones or other:
        raise CommandError(
            "link_has_work", project=old.name, tasks=tasks, milestones=milestones, other=other
        )
    _use(ctx, row)
    repo.rebind_channel(ctx.session, binding=ctx.binding, project_id=target.id)
    # The project this channel had holds no work (checked above); without another
    # channel it is left to nobody, so it goes, with its admins and codes.
    if repo.binding_count(ctx.session, project_id=old.id) == 0:
        repo.delete_project(ctx.session, project_id=old.id)
    repo.add_admin(ctx.session, project_id=target.id, member_id=ctx.member_id)
    ctx.project, ctx.is_admin = target, True
    return Reply(
        title=ctx.t("link.channel_linked", project=target.name),
        lines=ctx.t_lines(
            "link.channel_linked_how",
            who=ctx.mention(ctx.member),
            platform=ctx.workspace.platform,
            channel=ctx.binding.name or ctx.binding.channel_id,
            channels=repo.binding_count(ctx.session, project_id=target.id),
        ),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def _link_person(ctx: Ctx, typed: str) -> Reply:
    row = _valid_code(ctx, typed, LinkKind.PERSON)
    assert row.member_id is not None
    issuer = ctx.session.get_one(Member, row.member_id)
    assert issuer.id is not None
    if issuer.id == ctx.member_id:
        raise CommandError("link_self")
    if issuer.workspace_id == ctx.member.workspace_id:
        raise CommandError("link_same_workspace", who=ctx.mention(issuer))
    if issuer.person_id is not None and issuer.person_id == ctx.member.person_id:
        raise CommandError("link_already_one", who=ctx.mention(issuer))
    _use(ctx, row)
    repo.link_members(ctx.session, member_ids=[issuer.id, ctx.member_id], at=ctx.now)
    them, me = ctx.mention(issuer), ctx.mention(ctx.member)
    notice = Notification(
        member_id=issuer.id,
        platform_user_id=them.platform_user_id,
        platform=them.platform,
        reason="link",
        reply=Reply(
            title=ctx.t("link.person_linked", who=me, platform=me.platform),
            lines=(ctx.t("link.person_linked_mine"),),
        ),
    )
    return Reply(
        title=ctx.t("link.person_linked", who=them, platform=them.platform),
        lines=(ctx.t("link.person_linked_mine"),),
        tone=Tone.SUCCESS,
        notifications=(notice,),
    )
