"""The `teambot` command."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="teambot", description="Chat-ops bot for project teams.")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    console = sub.add_parser("console", help="chat with teambot locally (SQLite, no credentials)")
    console.add_argument("--user", help="who you are (default: your login name)")
    console.add_argument("--channel", default="general", help="the channel you are in")
    console.add_argument("-c", "--command", help="run this command (or lines) and exit")
    console.add_argument(
        "--log-file", type=Path, metavar="FILE",
        help="where warnings and errors are logged, away from the chat "
             "(default: teambot-console.log in the temporary directory)",
    )  # fmt: skip
    console.add_argument(
        "file",
        nargs="?",
        type=argparse.FileType("r", encoding="utf-8"),
        help="run the commands in this file, one per line",
    )

    demo = sub.add_parser("demo", help="a scripted tour of teambot on a throw-away database")
    demo.add_argument(
        "--fast", action="store_true",
        help="never pause between sections (on a terminal it waits for Enter)",
    )  # fmt: skip

    serve = sub.add_parser("serve", help="run the bot: Slack (HTTP or Socket Mode) and /healthz")
    serve.add_argument("--host", help="listen address (default TEAMBOT_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default TEAMBOT_PORT)")
    # The defaults are bot.limits.READ_TIMEOUT and MAX_CONNECTIONS (not imported here: the
    # module loads uvicorn, which only `serve` needs).
    serve.add_argument(
        "--read-timeout", type=_positive(float), default=5.0, metavar="SECONDS",
        help="answer 408 and close a connection whose request has not arrived whole by then "
             "(default 5)",
    )  # fmt: skip
    serve.add_argument(
        "--max-connections", type=_positive(int), default=1000, metavar="N",
        help="past N open connections, close the ones idle longest (default 1000)",
    )  # fmt: skip

    manifest = sub.add_parser("slack-manifest", help="print the Slack app manifest (YAML)")
    manifest.add_argument(
        "--url", help="public base URL (https://bot.example.com) or its …/slack/events URL"
    )
    manifest.add_argument("--socket-mode", action="store_true", help="no public URL: Socket Mode")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_cmd", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply schema migrations")
    up.add_argument("revision", nargs="?", default="head")
    db_sub.add_parser("current", help="show the schema revision")
    backup = db_sub.add_parser(
        "backup", help="copy a SQLite database while teambot runs (PostgreSQL: pg_dump)"
    )
    backup.add_argument("file", type=Path, help="the new backup file (must not exist)")

    exp = sub.add_parser("export", help="write projects as CSV files or JSON documents")
    exp.add_argument("--format", required=True, choices=("csv", "json"), dest="fmt")
    which = exp.add_mutually_exclusive_group(required=True)
    which.add_argument("--project", metavar="NAME", help="the project(s) with this name")
    which.add_argument("--project-id", type=int, metavar="ID", help="the project with this id")
    which.add_argument("--all", action="store_true", help="every project")
    exp.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                     help="where to write (default: the current directory)")  # fmt: skip
    return parser


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        return "q"


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    """`teambot ARGV` (None: this process's own command line); the exit status."""
    try:
        return _run(_parser().parse_args(argv))
    finally:
        if argv is None:
            # The interpreter's final garbage collection over SQLAlchemy's and
            # pydantic's objects costs 0.15-0.3 s of every short command (see
            # bench/startup.py); frozen objects are left to the OS to reclaim. Only
            # when the process ends here: a caller in-process keeps its collector.
            gc.freeze()


def configuration_errors(err: ValidationError) -> list[str]:
    """One line per bad setting, named as it is set (its environment variable), without
    the value (it may be a secret) or pydantic's links."""
    from bot.settings import Settings

    lines = []
    for error in err.errors(include_url=False, include_input=False):
        where = str(error["loc"][0]) if error["loc"] else ""
        field = Settings.model_fields.get(where)
        alias = field.validation_alias if field is not None else None
        name = (alias if isinstance(alias, str) else where).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}: {message}" if name else message)
    return lines


def _run(args: argparse.Namespace) -> int:
    from bot.settings import Settings

    try:
        settings = Settings()
    except ValidationError as err:
        for line in configuration_errors(err):
            print(f"teambot: {line}", file=sys.stderr)
        return 2
    from bot.logs import configure, formatter

    if args.cmd == "console":
        from bot.app import build_app
        from bot.console import LOG_FILE, Console, default_user, logging_to, main_loop, wants_color

        log_file = args.log_file or LOG_FILE
        with logging_to(log_file, formatter(settings.log_format)) as logged:
            app = build_app(settings)
            try:
                console = Console(
                    router=app.router,
                    user=args.user or default_user(),
                    channel=args.channel,
                    out=sys.stdout,
                    color=wants_color(sys.stdout),
                )
                status = main_loop(console, command=args.command, source=args.file)
            finally:
                app.close()
        if logged.count:
            print(f"teambot: {logged.count} warning(s) or error(s) logged in {log_file}",
                  file=sys.stderr)  # fmt: skip
        return status
    configure(settings.log_format)
    if args.cmd == "serve":
        from bot.app import build_app
        from bot.serve import serve

        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v}
        app = build_app(settings.model_copy(update=overrides))
        try:
            return serve(app, read_timeout=args.read_timeout, max_connections=args.max_connections)
        finally:
            app.close()
    if args.cmd == "slack-manifest":
        if not args.url and not args.socket_mode:
            print(
                "teambot slack-manifest: give --url https://your.host or --socket-mode",
                file=sys.stderr,
            )
            return 2
        from bot.slack.manifest import manifest_yaml

        print(manifest_yaml(url=args.url, socket_mode=args.socket_mode), end="")
        return 0
    if args.cmd == "demo":
        from bot.demo import run_demo

        paced = not args.fast and sys.stdin.isatty() and sys.stdout.isatty()
        return run_demo(settings, pause=_ask if paced else None)
    if args.cmd == "db":
        from storage.db import Database
        from storage.migrate import current_revision, upgrade

        if args.db_cmd == "backup":
            from bot.backup import backup_sqlite

            return backup_sqlite(settings.database_url, args.file, out=sys.stdout, err=sys.stderr)
        database = Database(settings.database_url)
        try:
            if args.db_cmd == "upgrade":
                ran = upgrade(database, args.revision)
                print(
                    f"schema at {current_revision(database)}"
                    + ("" if ran else " (already current)")
                )
            else:
                print(current_revision(database) or "empty (no schema yet)")
        finally:
            database.dispose()
        return 0
    if args.cmd == "export":
        from bot import export
        from storage.db import Database
        from storage.migrate import HEAD, current_revision

        database = Database(settings.database_url)
        try:
            revision = current_revision(database)
            if revision != HEAD:
                # Exporting only reads: it does not migrate a database behind the code.
                print(f"teambot export: the database schema is at {revision or 'nothing'}, "
                      f"not {HEAD}: run `teambot db upgrade` first", file=sys.stderr)  # fmt: skip
                return 2
            return export.run(
                database,
                fmt=args.fmt,
                name=args.project,
                project_id=args.project_id,
                out=args.out,
                stdout=sys.stdout,
                stderr=sys.stderr,
            )
        finally:
            database.dispose()
    raise AssertionError(args.cmd)


if __name__ == "__main__":
    sys.exit(main())
