"""Feishu card callbacks against a slow command: how long until Feishu gets its answer.

    .venv/bin/python bench/feishu_card_budget.py [--runs 5] [--lock 4] [--lookup 4]

Each run starts the real ASGI app (Feishu, HTTP mode) on a fresh SQLite file, with
the fake Open API on a loopback port; creates T-1 with a Responsible person whose
name has not been looked up yet; then another connection takes the database's
write lock (BEGIN IMMEDIATE) for `--lock` seconds, the fake's contact API hangs for
`--lookup` seconds, and that person presses Done (an encrypted, signed
card.action.trigger to POST /feishu/events). Printed per run: the seconds until the
callback was answered and the body; then, once the command has run, whether the
pressed card was updated (PATCH), the I person's DM sent and the task done.
Feishu gives a card callback 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.models import Task
from tests.fake_feishu import FakeFeishu
from tests.feishu_support import (
    card_event,
    feishu_settings,
    message_event,
    running,
    sealed,
)

ZOE = ("ou_zoe", "佐伊")  # Responsible for T-1; her name not looked up yet


async def one(path: Path, *, lock: float, lookup: float) -> tuple[float, str, str]:
    fake = FakeFeishu().start()
    fake.users.update({"ou_mei": "美", "ou_li": "李"})
    try:
        url = f"sqlite:///{path}"
        async with running(feishu_settings(url, fake), fake) as feishu:
            add = message_event("task add 上线 @_user_2", mentions=[ZOE], message_id="om_add")
            await feishu.callback(add)
            await feishu.callback(message_event("raci T-1 I @_user_2", mentions=[("ou_li", "李")]))
            [card] = [m for m in fake.delivered("oc_group1") if m.uuid == "reply-om_add"]
            dms = len(fake.delivered("ou_li"))
            fake.hang("/open-apis/contact/v3/users/ou_zoe", lookup)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("BEGIN IMMEDIATE")
            release = threading.Timer(lock, conn.rollback)
            release.start()
            press = card_event("task done T-1", operator="ou_zoe", message_id=card.message_id)
            body, headers = sealed(feishu.addressed(press))
            started = time.monotonic()
            response = await feishu.client.post("/feishu/events", content=body, headers=headers)
            seconds = time.monotonic() - started
            await asyncio.to_thread(release.join)
            conn.close()
            await feishu.settle()
            with Session(feishu.feishu.core.router.db.engine) as session:
                status = session.exec(select(Task.status)).one()
            after = (
                f"card updated: {bool(fake.updates())}, "
                f"DMs to the I person: {len(fake.delivered('ou_li')) - dms}, task: {status}"
            )
            return seconds, json.dumps(response.json(), ensure_ascii=False)[:90], after
    finally:
        fake.stop()


async def main(runs: int, lock: float, lookup: float) -> None:
    times = []
    for n in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, answer, after = await one(Path(tmp) / "bench.db", lock=lock, lookup=lookup)
        times.append(seconds)
        print(f"run {n + 1}: answered after {seconds:.2f} s: {answer}\n       then {after}")
    print(f"median {statistics.median(times):.2f} s, max {max(times):.2f} s (Feishu waits 3 s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lock", type=float, default=4.0)
    parser.add_argument("--lookup", type=float, default=4.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(args.runs, args.lock, args.lookup))
