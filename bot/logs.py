"""Where the log goes: plain text (the default) or, with TEAMBOT_LOG_FORMAT=json, one
JSON object per line for log collectors."""

from __future__ import annotations

import json
import logging
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


def configure(log_format: str, *, level: int = logging.WARNING) -> None:
    """The root logger's one handler, on stderr, in the format asked for."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
