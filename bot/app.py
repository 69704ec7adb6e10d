"""Wiring: from settings to a ready router. Used by every entry point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.logs import guard_payload_loggers
from bot.settings import Settings
from commands.i18n import Catalog
from commands.router import Defaults, Router
from commands.table import build_registry
from storage.db import Database
from storage.migrate import upgrade
from storage.types import utcnow


@dataclass
class App:
    settings: Settings
    db: Database
    router: Router

    def close(self) -> None:
        self.db.dispose()


def build_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> App:
    """Open the database, bring its schema up to date, and build the router."""
    guard_payload_loggers()
    db = Database(settings.database_url)
    upgrade(db)
    router = Router(
        db=db,
        catalog=Catalog(),
        registry=build_registry(),
        defaults=Defaults(timezone=settings.timezone, locale=settings.locale),
        clock=clock,
    )
    return App(settings=settings, db=db, router=router)
