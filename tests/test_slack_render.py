"""Unit tests of Slack rendering (neutral replies to Block Kit) and of Slack text parsing.

No server: bot.slack.render and bot.slack.translate are pure functions.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.slack.render import SlackStyle, blocks, button, cut, escape, mrkdwn
from bot.slack.translate import SlackText, parse_text
from commands.types import Button, Field, Lit, Mention, MentionRef, Reply, Rich, Table, Val
from tests.slack_contract import check_blocks, utf16

PING = SlackStyle(ping=True)
QUIET = SlackStyle(ping=False)

# -- escaping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("<!channel> & <@U1>", "&lt;!channel&gt; &amp; &lt;@U1&gt;"),
        ("&amp;", "&amp;amp;"),  # already an entity: escaped again, shown literally
        ("&lt;b&gt;", "&amp;lt;b&amp;gt;"),
        ("*bold* _it_ ~s~ `code` > quote", "*bold* _it_ ~s~ `code` &gt; quote"),
        ("\"quotes\" 'single' #c @here !x |pipe| ^caret", None),
        ("中文 ✓ émoji :tada: \\ / \n\t", None),
        ("", None),
    ],
)
def test_escape_replaces_exactly_the_three_control_characters(
    raw: str, escaped: str | None
) -> None:
    """escape() turns & < > into entities and leaves every other character as it is."""
    assert escape(raw) == (raw if escaped is None else escaped)


# -- mrkdwn: mentions ping only where wanted -------------------------------------------------------


def mention(platform: str = "slack", user_id: str = "U123", name: str = "ana") -> Mention:
    return Mention(member_id=1, name=name, platform=platform, platform_user_id=user_id)


@pytest.mark.parametrize(
    ("span", "style", "expected"),
    [
        (mention(), PING, "<@U123>"),
        (mention(user_id="W123"), PING, "<@W123>"),  # Enterprise Grid user ids
        (mention(), QUIET, "*ana*"),
        (mention(platform="feishu", user_id="ou_1"), PING, "*ana*"),
        (mention(platform="feishu", user_id="U123"), PING, "*ana*"),
        (mention(platform="console", user_id="ana"), PING, "*ana*"),
        (mention(name="<b>&co"), QUIET, "*&lt;b&gt;&amp;co*"),
        (mention(platform="feishu", name="<!here>"), PING, "*&lt;!here&gt;*"),
        (Val("<!channel>"), PING, "&lt;!channel&gt;"),
        (Val("<@U999> & <https://evil|x>"), PING, "&lt;@U999&gt; &amp; &lt;https://evil|x&gt;"),
        (Lit("a < b & c > d"), QUIET, "a &lt; b &amp; c &gt; d"),
    ],
)
def test_mrkdwn_spans(span: Lit | Val | Mention, style: SlackStyle, expected: str) -> None:
    """A Mention is <@U…> only with ping=True on Slack, else its bold escaped name; text is escaped."""
    assert mrkdwn(Rich((span,)), style) == expected


def test_mrkdwn_joins_spans_in_order() -> None:
    """Spans render one after another with nothing added between them."""
    rich = Rich((Lit("by "), mention(), Lit(": "), Val("<!channel> now")))
    assert mrkdwn(rich, PING) == "by <@U123>: &lt;!channel&gt; now"
    assert mrkdwn(rich, QUIET) == "by *ana*: &lt;!channel&gt; now"


# -- Block Kit limits --------------------------------------------------------------------------------


def section_texts(out: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in out if b["type"] == "section" and "text" in b]


def assert_within_slack_limits(out: list[dict[str, Any]]) -> None:
    """What Slack itself would refuse: the checks every rendered message must pass."""
    assert len(out) <= 50
    for block in out:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        elif block["type"] == "section":
            assert 1 <= len(block["fields"]) <= 10
            assert all(len(f["text"]) <= 2000 for f in block["fields"])
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        else:
            assert block["type"] == "actions"
            assert block is out[-1]
            assert 1 <= len(block["elements"]) <= 25
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= 75
                assert len(element["value"]) <= 2000
                assert len(element["action_id"]) <= 255


def huge_reply() -> Reply:
    """More of everything than one Slack message can hold."""
    return Reply(
        title=Rich.val("T" * 5000),
        # 500-character lines: five fit a section (5 * 500 + 4 newlines = 2504), six do not.
        lines=tuple(Rich.val(f"{n:03d}" + "L" * 497) for n in range(200)),
        fields=tuple(
            Field(Rich.lit(f"label {n}"), Rich.val(f"{n}" + "v" * 3000)) for n in range(30)
        ),
        # "• " + 98 characters = 100: 29 items fit a section (29 * 100 + 28 = 2928), 30 do not.
        items=tuple(Rich.val(f"{n:03d}" + "i" * 95) for n in range(120)),
        table=Table(
            header=(Rich.lit("Key"), Rich.lit("Title")),
            rows=tuple((Rich.val(f"T-{n}"), Rich.val("t" * 100)) for n in range(40)),
        ),
        footer=(Rich.lit("first footer"), Rich.lit("second footer")),
        buttons=tuple(
            Button(
                label=Rich.val("B" * 100),
                command=f"task start T-{n} " + "c" * 3000,
                action_id=f"b{n}",
            )
            for n in range(30)
        ),
    )


def test_huge_reply_is_cut_to_slack_limits() -> None:
    """Cut, never refused: ≤ 50 blocks, sections ≤ 3000, ≤ 10 fields of ≤ 2000, ≤ 25 buttons;
    the last content sections give way, the hint counts what they held."""
    out = blocks(huge_reply(), QUIET)
    assert_within_slack_limits(out)
    assert check_blocks(out) is None
    # title 1 + lines 40 + fields 3 + items 5 + table 2 + footer 2 + actions 1 = 54 blocks.
    # Kept: the title, 45 content sections, the hint, both footers, the actions.
    assert [b["type"] for b in out] == ["section"] * 46 + ["context"] * 3 + ["actions"]
    # Left out: the last 3 item sections (29 + 29 + 4 items) and the table's 40 rows.
    assert out[46] == hint_block(62 + 40)
    assert [e["text"] for b in out[47:49] for e in b["elements"]] == [
        "first footer",
        "second footer",
    ]
    texts = section_texts(out)
    assert texts[0] == "*" + "T" * 2998 + "…"
    assert [t.count("\n") + 1 for t in texts[1:41]] == [5] * 40
    assert texts[40].endswith("\n199" + "L" * 497)
    fields = [b["fields"] for b in out if "fields" in b]
    assert [len(f) for f in fields] == [10, 10, 10]
    assert fields[0][0]["text"] == "*label 0*\n0" + "v" * 1988 + "…"
    assert [t.count("•") for t in texts[41:]] == [29, 29]


def test_huge_reply_buttons_are_cut() -> None:
    """The first 25 buttons stay, each label ≤ 75 characters and value ≤ 2000."""
    actions = blocks(huge_reply(), QUIET)[-1]
    assert [e["action_id"] for e in actions["elements"]] == [f"tb:b{n}" for n in range(25)]
    assert actions["elements"][0] == {
        "type": "button",
        "text": {"type": "plain_text", "text": "B" * 74 + "…", "emoji": True},
        "action_id": "tb:b0",
        "value": ("task start T-0 " + "c" * 3000)[:2000],
    }


@pytest.mark.parametrize(
    ("lines", "buttons", "types", "dropped"),
    [
        (49, 0, ["section"] * 50, None),
        (50, 0, ["section"] * 49 + ["context"], 2),
        (48, 1, ["section"] * 49 + ["actions"], None),
        (49, 1, ["section"] * 48 + ["context", "actions"], 2),
        (60, 1, ["section"] * 48 + ["context", "actions"], 13),
    ],
)
def test_block_count_boundary(
    lines: int, buttons: int, types: list[str], dropped: int | None
) -> None:
    """50 blocks pass as they are; past that the last lines are replaced by "… (+N)" (N lines:
    one a section here), actions kept last."""
    reply = Reply(
        title=Rich.lit("Title"),
        lines=tuple(Rich.val(f"{n:04d}" + "x" * 2995) for n in range(lines)),  # one a section
        buttons=tuple(Button(Rich.lit("Go"), "task list", f"go{n}") for n in range(buttons)),
    )
    out = blocks(reply, QUIET)
    assert_within_slack_limits(out)
    assert [b["type"] for b in out] == types
    notes = [b for b in out if b["type"] == "context"]
    if dropped is None:
        assert notes == []
    else:
        assert notes == [hint_block(dropped)]
        kept = section_texts(out)[1:]
        assert [t[:4] for t in kept] == [f"{n:04d}" for n in range(len(kept))]


def test_escaping_never_pushes_a_section_past_its_limit() -> None:
    """Escaping can grow a text fivefold (& to &amp;); the cut happens after it, and never
    inside an entity."""
    reply = Reply(
        title=Rich.val("<" * 2000),
        lines=(Rich.val("&" * 1000),),
        fields=(Field(Rich.val(">" * 1000), Rich.val("&" * 1000)),),
        items=(Rich.val("<" * 1000),),
        footer=(Rich.val("&" * 1000),),
    )
    out = blocks(reply, PING)
    assert_within_slack_limits(out)
    assert check_blocks(out) is None
    texts = [*section_texts(out), out[2]["fields"][0]["text"], out[-1]["elements"][0]["text"]]
    for text in texts:
        assert 2995 - 1000 <= len(text) <= 3000
        assert re.search(r"&(amp|lt|gt);…$", text), text[-12:]


def test_wide_table_is_split_into_closed_code_blocks() -> None:
    """A table too long for a section is split into several ``` blocks, each closed, each
    with the header, every row shown once."""
    table = Table(
        header=(Rich.lit("Key"), Rich.lit("Title")),
        rows=tuple((Rich.val(f"T-{n}"), Rich.val("<t>" * 40)) for n in range(40)),
    )
    out = blocks(Reply(table=table), QUIET)
    assert check_blocks(out) is None
    texts = section_texts(out)
    assert len(texts) == 5  # 8 rows of 366 code units each fit a section
    for text in texts:
        assert utf16(text) <= 3000
        assert text.startswith("```Key   Title\n") and text.endswith("```")
        assert "<" not in text
    assert texts[0].startswith("```Key   Title\nT-0   &lt;t&gt;")
    rows = [line.split()[0] for t in texts for line in t.strip("`").split("\n")[1:]]
    assert rows == [f"T-{n}" for n in range(40)]


# -- honest counts: what is shown plus the hint is what there is ----------------------------------

EMOJI = "\N{GRINNING FACE}"  # 2 UTF-16 code units
MARK = re.compile(r"#(\d{3})#")
HINT = re.compile(r"^… \(\+(\d+)\)$")


def hint_block(dropped: int) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"… (+{dropped})"}]}


def shown_and_hinted(out: list[dict[str, Any]]) -> tuple[list[int], int]:
    """The numbered units a person sees (#nnn# marks), and what the hint says is left out."""
    texts = section_texts(out)
    texts += [f["text"] for b in out if "fields" in b for f in b["fields"]]
    shown = sorted(int(m) for t in texts for m in MARK.findall(t))
    hints = [
        int(found.group(1))
        for b in out
        if b["type"] == "context"
        for e in b["elements"]
        if (found := HINT.match(e["text"]))
    ]
    assert len(hints) <= 1
    return shown, sum(hints)


def numbered(n: int, filler: str) -> Rich:
    return Rich.val(f"#{n:03d}# {filler}")


@pytest.mark.parametrize(
    "reply",
    [
        # /retro list with 154 notes, each long enough that two share a section.
        Reply(title=Rich.lit("Notes"), items=tuple(numbered(n, "n" * 1200) for n in range(154))),
        Reply(items=tuple(numbered(n, EMOJI * 700) for n in range(154))),  # 1400 code units
        Reply(items=tuple(numbered(n, "中文" * 500) for n in range(154))),
        Reply(items=tuple(numbered(n, "a&b<c>" * 300) for n in range(154))),  # escapes grow it
        Reply(lines=tuple(numbered(n, "L" * 2500) for n in range(80))),
        Reply(lines=tuple(numbered(n, EMOJI * 1490) for n in range(80))),  # cut, still shown
        Reply(fields=tuple(Field(Rich.lit("f"), numbered(n, "v" * 50)) for n in range(600))),
        Reply(
            lines=tuple(numbered(n, "l" * 2000) for n in range(30)),
            fields=tuple(Field(Rich.lit("f"), numbered(100 + n, "v")) for n in range(100)),
            items=tuple(numbered(300 + n, "中" * 1400) for n in range(100)),
            footer=(Rich.lit("page 1"),),
            buttons=(Button(Rich.lit("More"), "retro list 2", "more"),),
        ),
    ],
    ids=["154 items", "emoji items", "CJK items", "escaped items", "long lines", "emoji lines",
         "600 fields", "all of it"],
)  # fmt: skip
def test_shown_plus_hint_is_what_there_is(reply: Reply) -> None:
    """However much a reply holds, the message passes the strict contract, shows a prefix of
    each kind and the hint counts exactly the rest (issue 11: the hint counted blocks)."""
    out = blocks(reply, QUIET)
    assert check_blocks(out) is None
    shown, hinted = shown_and_hinted(out)
    total = len(reply.lines) + len(reply.fields) + len(reply.items)
    assert len(shown) == len(set(shown))
    assert len(shown) + hinted == total
    assert hinted > 0
    if reply.footer:
        assert out[-2]["elements"][0]["text"] == "page 1"
        assert out[-1]["type"] == "actions"


def test_a_reply_that_fits_has_no_hint() -> None:
    """49 sections of emoji text, each exactly 3000 code units, and a title: all shown."""
    reply = Reply(title=Rich.lit("T"), lines=tuple(Rich.val(EMOJI * 1500) for _ in range(49)))
    out = blocks(reply, QUIET)
    assert check_blocks(out) is None
    assert len(out) == 50
    assert all(b["type"] == "section" for b in out)
    assert [utf16(t) for t in section_texts(out)[1:]] == [3000] * 49


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        (EMOJI * 10, 5, EMOJI * 2 + "…"),  # never half an emoji
        ("ab&amp;cd", 8, "ab&amp;…"),
        ("ab&amp;cd", 7, "ab…"),  # never inside an entity
        ("hi <@U123|ana> there", 12, "hi …"),  # nor inside a mention
        ("a < b and more text", 10, "a < b and…"),  # a plain "<" is no control sequence
        ("中" * 10, 5, "中" * 4 + "…"),
    ],
)
def test_cut_counts_utf16_and_keeps_sequences_whole(text: str, limit: int, expected: str) -> None:
    """cut() stays within `limit` UTF-16 code units and cuts between characters and entities."""
    assert cut(text, limit) == expected
    assert utf16(cut(text, limit)) <= limit


# -- buttons ----------------------------------------------------------------------------------------


def test_button_that_asks_carries_a_form_spec() -> None:
    """A button with `asks` gets action_id tb:ask:<id> and a JSON value: command, title, label."""
    b = Button(
        label=Rich.lit("Block"),
        command="task block T-1",
        action_id="task_block",
        style="danger",
        asks=Rich.lit("reason"),
    )
    element = button(b)
    assert element == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Block", "emoji": True},
        "action_id": "tb:ask:task_block",
        "value": '{"command": "task block T-1", "title": "Block", "label": "reason"}',
        "style": "danger",
    }
    assert json.loads(element["value"]) == {
        "command": "task block T-1",
        "title": "Block",
        "label": "reason",
    }


def test_plain_button_runs_its_command() -> None:
    """A button without `asks` has action_id tb:<id>, its command as value, no default style."""
    b = Button(label=Rich.lit("Start"), command="task start T-1", action_id="task_start")
    assert button(b) == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Start", "emoji": True},
        "action_id": "tb:task_start",
        "value": "task start T-1",
    }


# -- parsing what Slack sends ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text", "mentions"),
    [
        ("<@U123|ana> hi", "@U123 hi", {"U123": MentionRef("U123", "ana")}),
        ("<@U123>", "@U123", {"U123": MentionRef("U123", "")}),
        ("<@U1|a&amp;b>", "@U1", {"U1": MentionRef("U1", "a&b")}),
        (
            "R <@U1> A <@W2|li>",
            "R @U1 A @W2",
            {"U1": MentionRef("U1"), "W2": MentionRef("W2", "li")},
        ),
        ("<#C1|general>", "#general", {}),
        ("<#C1>", "#C1", {}),
        ("<#C1|>", "#C1", {}),
        ("<https://x.io|site>", "site", {}),
        ("<https://x.io>", "https://x.io", {}),
        ("<mailto:a@b.io|a@b.io>", "a@b.io", {}),
        ("<!here>", "@here", {}),
        ("<!channel> <!everyone>", "@channel @everyone", {}),
        ("<!subteam^S1|@devs>", "@devs", {}),
        ("<!date^1392734382^{date}|Feb 18>", "Feb 18", {}),
        ("a &amp; b &lt;c&gt;", "a & b <c>", {}),
        ("&amp;lt;", "&lt;", {}),  # a typed "&lt;" arrives escaped once more
        ("  task \n add\t\tx  ", "task add x", {}),
        ("", "", {}),
    ],
)
def test_parse_text(raw: str, text: str, mentions: dict[str, MentionRef]) -> None:
    """Slack control sequences become the plain words a person sees; people become @ids."""
    assert parse_text(raw) == SlackText(text=text, mentions=mentions)


def test_parse_text_drops_the_bots_own_mention() -> None:
    """The bot's mention (drop_user) is removed from the text and from the mentions."""
    parsed = parse_text("<@UBOT> task add Deploy <@U1|zoe>", drop_user="UBOT")
    assert parsed == SlackText(text="task add Deploy @U1", mentions={"U1": MentionRef("U1", "zoe")})
    kept = parse_text("<@UBOT> hi", drop_user="UOTHER")
    assert kept == SlackText(text="@UBOT hi", mentions={"UBOT": MentionRef("UBOT")})


def test_mention_glued_to_words_is_still_its_own_word() -> None:
    """`(<@U1>)` and `x<@U1>y` still give a separate `@U1` word the router can resolve."""
    assert parse_text("task assign 1 (<@U1>)").text == "task assign 1 ( @U1 )"
    assert parse_text("x<@U1>y").text == "x @U1 y"
