"""Where the log goes: plain text (the default) or, with TEAMBOT_LOG_FORMAT=json, one
JSON object per line for log collectors."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Context a record may carry through `extra=`; other extras (uvicorn's colour
# variants of its messages, say) are not part of the JSON line.
CONTEXT = ("event_id", "platform", "channel", "command")


class JsonFormatter(logging.Formatter):
    """time (ISO 8601, UTC), level, logger, message; the context given with `extra=`;
    the exception and its traceback as one string when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, object] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        # ASCII only: a line stays valid JSON whatever encoding stderr has.
        return json.dumps(out, default=str)


# A link code (commands/link.py: 8 of 23456789ABCDEFGHJKLMNPQRSTUVWXYZ) as teambot shows
# it, and as a person may type it after "link" or "link me": any case, a dash, URL-encoded
# spaces in a form body.
_ISSUED = re.compile(r"\b[2-9A-HJ-NP-Z]{4}-?[2-9A-HJ-NP-Z]{4}\b")
_TYPED = re.compile(
    r"(?i)(\blink(?:\s|\+|%20)+(?:me(?:\s|\+|%20)+)?)[2-9a-hj-np-z]{4}-?[2-9a-hj-np-z]{4}\b"
)
# Loggers that write whole payloads at DEBUG: bolt and Socket Mode (through the adapter's
# logger), lark-oapi's long connection, SQLAlchemy's rows (its parameters are hidden).
PAYLOAD_LOGGERS = (
    "bot.slack.adapter",
    "slack_bolt",
    "slack_sdk",
    "Lark",
    "sqlalchemy.engine.Engine",
)


def redact_link_codes(text: str) -> str:
    return _ISSUED.sub("[code]", _TYPED.sub(r"\1[code]", text))


class LinkCodeFilter(logging.Filter):
    """Link codes are keys to a project: a record that holds one is rewritten without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_link_codes(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def guard_payload_loggers() -> None:
    """Put the link-code filter on the loggers that log payloads (once each)."""
    for name in PAYLOAD_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, LinkCodeFilter) for f in logger.filters):
            logger.addFilter(LinkCodeFilter())


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(log_format: str, *, level: int = logging.WARNING) -> None:
    """The root logger's one handler, on stderr, in the format asked for."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(LinkCodeFilter())  # whatever logger a record comes from
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler])
