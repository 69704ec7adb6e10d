"""Races met one command at a time: a database locked by another writer, text that would
read backwards, a command naming too many people. (Many commands at once, through the
real server: tests/test_concurrency.py.)"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from commands.router import MAX_PEOPLE
from commands.types import Tone
from storage.db import Database
from storage.models import Member
from tests.chat import Chat, snapshot


def test_a_database_locked_past_the_busy_timeout_is_waited_for(chat: Chat, db_url: str) -> None:
    """SQLite held by another writer for 7 s (over the 5 s busy time-out): the command waits
    and then runs once; nothing is lost and nobody gets the apology."""
    if not db_url.startswith("sqlite"):
        pytest.skip("a file lock held by another process is SQLite's")
    chat.say("mei", "task add warm up")
    path = make_url(db_url).database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(7.0, other.execute, args=("COMMIT",))
    release.start()
    started = time.monotonic()
    try:
        reply = chat.say("mei", "task add while locked")
    finally:
        release.join()
        other.close()
    assert time.monotonic() - started >= 6.5
    assert reply.title.plain() == "Created T-2: while locked"
    assert chat.task(2).title == "while locked"


def test_bidi_overrides_never_reach_a_title_or_a_name(chat: Chat, db: Database) -> None:
    """U+202A-U+202E and U+2066-U+2069 are stripped from titles and from people's names,
    so `exe.gnp` cannot pose as `png.exe`."""
    reply = chat.say("ev\u202eil", "task add invoice\u202egnp.exe \u2066ok\u2069")
    assert reply.title.plain() == "Created T-1: invoice gnp.exe ok"
    with Session(db.engine) as session:
        names = session.exec(select(Member.display_name)).all()
    assert names == ["ev il"]


def test_a_command_naming_too_many_people_is_refused(chat: Chat, db: Database) -> None:
    """One command may name 50 people: 51 is refused, clearly, with nothing changed."""
    chat.say("mei", "task add seed")
    crowd = " ".join(f"@p{n}" for n in range(MAX_PEOPLE + 1))
    before = snapshot(db)
    reply = chat.say("mei", f"task add Party {crowd}")
    assert reply.tone is Tone.ERROR
    assert reply.title.plain() == (
        "That names 51 people; one command can name at most 50. Nothing was changed."
    )
    assert snapshot(db) == before


def test_one_command_dms_at_most_fifty_people(chat: Chat, db: Database) -> None:
    """A block tells the task's C and I people: with 40 of each, 50 get a DM, not 80."""
    names = [f"p{n}" for n in range(80)]
    for name in names:
        chat.say(name, "teambot help")  # each is a known member of the workspace
    chat.say("mei", "task add Busy task")
    chat.say("mei", "raci T-1 C " + " ".join(f"@{n}" for n in names[:40]))
    chat.say("mei", "raci T-1 I " + " ".join(f"@{n}" for n in names[40:]))
    reply = chat.say("mei", "task block T-1 waiting")
    assert reply.tone is Tone.WARNING
    assert len(reply.notifications) == MAX_PEOPLE
