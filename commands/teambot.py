"""/teambot: help, project language and time zone, admins, links, exports."""

from __future__ import annotations

from collections.abc import Callable

from commands import link
from commands.common import join_people, take_people
from commands.context import Ctx
from commands.errors import CommandError
from commands.i18n import LOCALES, Catalog
from commands.parsing import parse_zone
from commands.permissions import Permission, authorize
from commands.registry import TOPICS, Args, CommandSpec, Registry
from commands.types import Field, Reply, Rich, Tone, Visibility
from storage import export, repo

MAX_ADMINS_SHOWN = 50


def make_help(registry: Callable[[], Registry]) -> Callable[[Ctx, Args], Reply]:
    """The help handler reads the finished registry, so it is built after it."""

    def help_(ctx: Ctx, args: Args) -> Reply:
        reg = registry()
        words = [w.lstrip("/").lower() for w in args.words]
        if words and words[0] == "teambot" and len(words) > 1:
            words = words[1:]
        group = reg.group_of(words[0]) if words else None
        if words and group is None:
            raise CommandError("unknown_help", word=words[0])
        if group and len(words) > 1:
            spec = reg.lookup(group, words[1])
            if spec is None:
                raise CommandError("unknown_help", word=" ".join(words[:2]))
            return Reply(
                title=ctx.t("help.one_title", usage=spec.usage),
                lines=(ctx.t("help.summary", id=spec.id),),
                items=tuple(ctx.t("common.value", value=e) for e in spec.examples),
                footer=(ctx.t("help.examples_hint"),),
            )
        if group:
            return group_help(ctx.catalog, ctx.locale, reg, group)
        return overview(ctx.catalog, ctx.locale, reg)

    return help_


def overview(catalog: Catalog, locale: str, reg: Registry) -> Reply:
    """`/teambot help`: one line per thing people do, naming its commands."""
    items = []
    for topic in TOPICS:
        groups = [
            (g.name, [s.name for s in reg.in_group(g.name)])
            for g in reg.groups.values()
            if g.topic == topic
        ]
        if groups:
            items.append(catalog.text(locale, "help.topic", topic=topic, groups=groups))
    return Reply(
        title=catalog.text(locale, "help.title", group=None),
        items=tuple(items),
        footer=catalog.lines(locale, "help.footer"),
    )


def group_help(catalog: Catalog, locale: str, reg: Registry, group: str) -> Reply:
    """`/teambot help task`, and a bare `/task`: the group's commands, one line each."""
    specs = reg.in_group(group)
    return Reply(
        title=catalog.text(locale, "help.group_title", group=group, topic=reg.groups[group].topic),
        items=tuple(catalog.text(locale, "help.item", usage=s.usage, id=s.id) for s in specs),
        footer=(catalog.text(locale, "help.group_footer", example=f"{group} {specs[0].name}"),),
    )


def group_names(catalog: Catalog, locale: str, reg: Registry, group: str) -> tuple[Rich, ...]:
    """The group's help in two lines, for an error about a word it does not know."""
    names = [s.name for s in reg.in_group(group)]
    return catalog.lines(locale, "help.group_short", group=group, names=names)


def lang(ctx: Ctx, args: Args) -> Reply:
    if not args.words:  # a question anyone may ask: which language, and how to change it
        return Reply(title=ctx.t("teambot.lang_is", chosen=bool(ctx.project.locale)))
    authorize(Permission.ADMIN, member_id=ctx.member_id, is_admin=ctx.is_admin)
    if len(args.words) != 1 or args.words[0].lower() not in _LANG_WORDS:
        raise CommandError("bad_choice", option="lang", value=args.rest(), allowed=list(LOCALES))
    ctx.project.locale = _LANG_WORDS[args.words[0].lower()]
    ctx.locale = ctx.project.locale
    return Reply(title=ctx.t("teambot.lang_set"), visibility=Visibility.CHANNEL, tone=Tone.SUCCESS)


_LANG_WORDS = {
    "en": "en",
    "english": "en",
    "英文": "en",
    "zh": "zh",
    "cn": "zh",
    "中文": "zh",
    "zh-cn": "zh",
    "zh_cn": "zh",
}


def timezone(ctx: Ctx, args: Args) -> Reply:
    if not args.words:
        now = ctx.now.astimezone(ctx.tz).strftime("%H:%M")
        return Reply(
            title=ctx.t("teambot.tz_is", tz=ctx.project.timezone, today=ctx.today, now=now),
            lines=(ctx.t("teambot.tz_how"),),
        )
    authorize(Permission.ADMIN, member_id=ctx.member_id, is_admin=ctx.is_admin)
    if len(args.words) != 1:
        raise CommandError("bad_timezone", value=args.rest())
    name = parse_zone(args.words[0])
    ctx.project.timezone = name
    return Reply(
        title=ctx.t("teambot.tz_set", tz=name, today=ctx.today),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


def admin(ctx: Ctx, args: Args) -> Reply:
    words = args.words
    if not words or words[0].lower() in ("list", "ls", "列表"):
        admins = sorted(repo.admin_ids(ctx.session, project_id=ctx.project_id))
        names = ctx.people(admins)
        return Reply(title=ctx.t("teambot.admins", who=join_people(names[m] for m in admins)))
    authorize(Permission.ADMIN, member_id=ctx.member_id, is_admin=ctx.is_admin)
    action = words[0].lower()
    people, rest = take_people(ctx, words[1:])
    if action not in ("add", "remove", "rm", "添加", "移除") or rest or not people:
        raise CommandError("bad_admin")
    # Changes of the admin list queue on the project's row and read the list afresh: two
    # admins removing each other at once leave one admin, never none.
    repo.lock_project(ctx.session, project_id=ctx.project_id)
    current = repo.admin_ids(ctx.session, project_id=ctx.project_id)
    authorize(Permission.ADMIN, member_id=ctx.member_id, is_admin=ctx.member_id in current)
    changed = []
    for member in people:
        assert member.id is not None
        if action in ("add", "添加"):
            if repo.add_admin(ctx.session, project_id=ctx.project_id, member_id=member.id):
                changed.append(member.id)
                current.add(member.id)
        elif member.id in current:
            if not current - {member.id}:
                raise CommandError("last_admin")
            repo.remove_admin(ctx.session, project_id=ctx.project_id, member_id=member.id)
            changed.append(member.id)
            current.discard(member.id)
    if not changed:
        raise CommandError("admin_unchanged")
    names = ctx.people(changed)
    key = "teambot.admin_added" if action in ("add", "添加") else "teambot.admin_removed"
    return Reply(
        title=ctx.t(key, who=join_people(names[m] for m in changed)),
        visibility=Visibility.CHANNEL,
        tone=Tone.SUCCESS,
    )


EXPORT_FORMATS = ("csv", "json")


def export_(ctx: Ctx, args: Args) -> Reply:
    """What an export of the project holds, and the server command that writes it.

    No file is sent in chat: a file posted there can be read by everyone in the
    channel (and on Slack cannot be shown to the admin alone), while an export holds
    every standup answer and retro note. `teambot export` writes it on the server.
    """
    if len(args.words) != 1 or args.words[0].lower() not in EXPORT_FORMATS:
        raise CommandError(
            "bad_choice", option="format", value=args.rest(), allowed=list(EXPORT_FORMATS)
        )
    fmt = args.words[0].lower()
    project = export.project_info(ctx.session, project_id=ctx.project_id)
    counts = export.counts(ctx.session, project=project)
    # By id: project names repeat across workspaces (every Slack team has a #general).
    command = f"teambot export --format {fmt} --project-id {project.id}"
    return Reply(
        title=ctx.t("teambot.export_title", project=project.name),
        fields=tuple(
            Field(ctx.t("teambot.export_label", table=name), Rich.val(str(count)))
            for name, count in counts.items()
        ),
        footer=ctx.t_lines("teambot.export_how", command=command, fmt=fmt),
    )


def specs(registry: Callable[[], Registry]) -> list[CommandSpec]:
    return [
        CommandSpec(
            group="teambot",
            name="help",
            handler=make_help(registry),
            usage="/teambot help [command]",
            examples=("/teambot help", "/teambot help task add"),
            aliases=("?", "帮助"),
        ),
        CommandSpec(
            group="teambot",
            name="lang",
            handler=lang,
            usage="/teambot lang [en|zh]",
            examples=("/teambot lang zh", "/teambot lang"),
            aliases=("language", "语言"),
        ),
        CommandSpec(
            group="teambot",
            name="tz",
            handler=timezone,
            usage="/teambot tz [<zone>]",
            examples=("/teambot tz Asia/Shanghai", "/teambot tz"),
            aliases=("timezone", "时区"),
        ),
        CommandSpec(
            group="teambot",
            name="admin",
            handler=admin,
            usage="/teambot admin [add|remove @user…]",
            examples=("/teambot admin add @li", "/teambot admin"),
            aliases=("admins", "管理员"),
        ),
        CommandSpec(
            group="teambot",
            name="link",
            handler=link.link,  # issuing a channel code is for admins: the handler authorizes it
            usage="/teambot link [code] | link me [code]",
            examples=(
                "/teambot link",
                "/teambot link K7QM2XPB",
                "/teambot link me",
                "/teambot link me K7QM2XPB",
            ),
            aliases=("关联",),
        ),
        CommandSpec(
            group="teambot",
            name="export",
            handler=export_,
            usage="/teambot export csv|json",
            examples=("/teambot export csv", "/teambot export json"),
            permission=Permission.ADMIN,
            aliases=("导出",),
        ),
    ]
