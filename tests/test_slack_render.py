"""Unit tests of Slack rendering (neutral replies to Block Kit) and of Slack text parsing.

No server: bot.slack.render and bot.slack.translate are pure functions.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.slack.render import SlackStyle, blocks, button, escape, mrkdwn
from bot.slack.translate import SlackText, parse_text
from commands.types import Button, Field, Lit, Mention, MentionRef, Reply, Rich, Table, Val

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
    """Cut, never refused: ≤ 50 blocks, sections ≤ 3000, ≤ 10 fields of ≤ 2000, ≤ 25 buttons."""
    out = blocks(huge_reply(), QUIET)
    assert_within_slack_limits(out)
    # Before cutting: title 1 + lines 40 + fields 3 + items 5 + table 1 + footer 2 + actions 1
    # = 53 blocks. Kept: the first 48, a context saying how many were dropped, the actions.
    assert [b["type"] for b in out] == ["section"] * 48 + ["context", "actions"]
    assert out[-2] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "… (+4)"}]}
    texts = section_texts(out)
    assert texts[0] == "*" + "T" * 2998 + "…"
    assert [t.count("\n") + 1 for t in texts[1:41]] == [5] * 40
    assert texts[40].endswith("\n199" + "L" * 497)
    fields = [b["fields"] for b in out if "fields" in b]
    assert [len(f) for f in fields] == [10, 10, 10]
    assert fields[0][0]["text"] == "*label 0*\n0" + "v" * 1988 + "…"
    assert [t.count("•") for t in texts[41:]] == [29, 29, 29, 29]


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
    """50 blocks pass as they are; at 51 the tail is replaced by "… (+N)", actions kept last."""
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
        assert notes == [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"… (+{dropped})"}]}
        ]
        kept = section_texts(out)[1:]
        assert [t[:4] for t in kept] == [f"{n:04d}" for n in range(len(kept))]


def test_escaping_never_pushes_a_section_past_its_limit() -> None:
    """Escaping can grow a text fivefold (& to &amp;); the cut happens after it."""
    reply = Reply(
        title=Rich.val("<" * 2000),
        lines=(Rich.val("&" * 1000),),
        fields=(Field(Rich.val(">" * 1000), Rich.val("&" * 1000)),),
        items=(Rich.val("<" * 1000),),
        footer=(Rich.val("&" * 1000),),
    )
    out = blocks(reply, PING)
    assert_within_slack_limits(out)
    assert [len(t) for t in section_texts(out)] == [3000, 3000, 3000]
    assert len(out[2]["fields"][0]["text"]) == 2000
    assert len(out[-1]["elements"][0]["text"]) == 3000


def test_wide_table_stays_a_code_block_within_the_limit() -> None:
    """A table too long for a section is cut inside its ``` fence, which stays closed."""
    table = Table(
        header=(Rich.lit("Key"), Rich.lit("Title")),
        rows=tuple((Rich.val(f"T-{n}"), Rich.val("<t>" * 40)) for n in range(40)),
    )
    [block] = blocks(Reply(table=table), QUIET)
    text = block["text"]["text"]
    assert len(text) <= 3000
    assert text.startswith("```Key   Title\nT-0   &lt;t&gt;")
    assert text.endswith("…```")
    assert "<" not in text


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
