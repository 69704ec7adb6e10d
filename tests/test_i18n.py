"""Wording: both locales complete, every error key worded, values marked apart from words."""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.common import TaskView
from commands.i18n import LOCALES, Catalog, macro_signatures, strip_markers
from commands.parsing import tokenize
from commands.registry import CommandSpec
from commands.router import HELP_WORDS, UMBRELLA, Router, normalize
from commands.table import build_registry
from commands.types import Lit, Mention, Rich, Val

COMMANDS = Path(__file__).resolve().parent.parent / "commands"
SOURCES = sorted(COMMANDS.glob("*.py"))
ERROR_KEY = re.compile(r'CommandError\(\s*"([a-z_.]+)"')
SPEC_IDS = sorted(build_registry().specs)
MARKERS = "\ue000\ue001\ue002\ue003\x1f"


def _macro_key(key: str) -> str:
    """The macro a CommandError key names: keys without a dot live in errors.j2."""
    return key if "." in key else f"errors.{key}"


def _error_keys() -> list[str]:
    found = {m.group(1) for path in SOURCES for m in ERROR_KEY.finditer(path.read_text("utf-8"))}
    return sorted(found)


def _error_calls() -> list[tuple[str, str, frozenset[str]]]:
    """(where, macro key, keyword names) of every CommandError("…", …) call in commands/."""
    calls = []
    for path in SOURCES:
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "CommandError"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names = frozenset(k.arg for k in node.keywords if k.arg and k.arg != "command")
                where = f"{path.name}:{node.lineno}"
                calls.append((where, _macro_key(node.args[0].value), names))
    return sorted(calls)


def _view(title: str = "Write SRS", due: date | None = None) -> TaskView:
    return TaskView(
        key="T-1",
        title=title,
        status="todo",
        prio="med",
        kind="task",
        due=due,
        overdue=False,
        milestone=None,
        blocked_reason=None,
    )


ANA = Mention(member_id=7, name="Ana", platform="slack", platform_user_id="U07")


# -- completeness ----------------------------------------------------------------------------


def test_locales_define_the_same_macros() -> None:
    """en and zh define exactly the same macro names."""
    signatures = macro_signatures()
    assert set(signatures) == set(LOCALES)
    assert len(signatures["en"]) > 100
    assert sorted(signatures["zh"]) == sorted(signatures["en"])


def test_locales_give_macros_the_same_parameters() -> None:
    """Every macro takes the same parameter names, in the same order, in en and zh."""
    signatures = macro_signatures()
    differing = {
        key: (params, signatures["zh"].get(key))
        for key, params in signatures["en"].items()
        if signatures["zh"].get(key) != params
    }
    assert differing == {}


def test_error_keys_are_found_in_the_sources() -> None:
    """The key scan sees the CommandError calls of every command module (guards the regex)."""
    keys = _error_keys()
    assert len(keys) >= 40
    assert {"bad_key", "bad_date", "unknown_task", "denied", "one_accountable"} <= set(keys)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("key", _error_keys())
def test_every_error_key_is_worded(key: str, locale: str) -> None:
    """Each CommandError key raised in commands/ is a macro of the locale's templates."""
    assert _macro_key(key) in macro_signatures()[locale]


@pytest.mark.parametrize("locale", LOCALES)
def test_error_parameters_match_their_macro(locale: str) -> None:
    """Each CommandError call passes exactly the parameters its message macro takes."""
    signatures = macro_signatures()[locale]
    mismatched = [
        (where, key, sorted(names), signatures.get(key))
        for where, key, names in _error_calls()
        if key not in signatures or names != set(signatures[key])
    ]
    assert len(_error_calls()) >= 50
    assert mismatched == []


# -- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("spec_id", SPEC_IDS)
def test_every_command_has_a_summary(catalog: Catalog, spec_id: str, locale: str) -> None:
    """help.summary and help.item render a non-empty text for each command in each locale."""
    summary = catalog.text(locale, "help.summary", id=spec_id)
    assert len(summary.spans) == 1
    assert isinstance(summary.spans[0], Val)
    assert summary.plain().strip() != ""
    item = catalog.text(locale, "help.item", usage="/x", id=spec_id)
    assert item == Rich((Val("/x"), Lit(" — "), summary.spans[0]))


def _resolve(router: Router, text: str) -> CommandSpec:
    """The spec Router.route would run for `text` (its parsing steps, without the handler)."""
    words = tokenize(normalize(text))
    if words and words[0].startswith("/"):
        words[0] = words[0][1:]
        if not words[0]:
            words.pop(0)
    if words[0].lower() in HELP_WORDS:
        words = [UMBRELLA, "help", *words[1:]]
    spec, _rest = router.resolve(words)
    return spec


def test_every_example_runs_its_own_command(router: Router) -> None:
    """Each command has examples, and every example resolves to that same command."""
    specs = router.registry.specs
    resolved = {
        spec_id: [_resolve(router, example).id for example in spec.examples]
        for spec_id, spec in specs.items()
    }
    assert sorted(specs) == SPEC_IDS
    assert all(spec.examples for spec in specs.values())
    assert resolved == {spec_id: [spec_id] * len(spec.examples) for spec_id, spec in specs.items()}


# -- value marking ---------------------------------------------------------------------------


def test_template_words_are_lit_and_values_are_val(catalog: Catalog) -> None:
    """task.created marks its own words Lit and the key and title Val, markers stripped."""
    text = catalog.text("en", "task.created", task=_view("<!channel> \ue000x\ue001"), who=ANA)
    assert text == Rich((Lit("Created "), Val("T-1"), Lit(": "), Val("<!channel> x")))


def test_mention_parameter_comes_back_as_the_same_mention(catalog: Catalog) -> None:
    """A Mention given to a template comes back as an equal Mention span, not as text."""
    text = catalog.text("en", "task.started", task=_view("<!channel> \ue000x\ue001"), who=ANA)
    assert text == Rich(
        (ANA, Lit(" started "), Val("T-1"), Lit(": "), Val("<!channel> x")),
    )
    zh = catalog.text("zh", "task.started", task=_view("修复"), who=ANA)
    assert zh == Rich((ANA, Lit(" 开始了 "), Val("T-1"), Lit("："), Val("修复")))


@settings(max_examples=200, deadline=None)
@given(title=st.text(alphabet=st.one_of(st.sampled_from(MARKERS), st.characters())))
def test_no_value_can_forge_a_mention(catalog: Catalog, title: str) -> None:
    """Whatever a title contains, the only Mention spans are those passed in; it stays one Val."""
    text = catalog.text("en", "task.started", task=_view(title), who=ANA)
    assert text == Rich((ANA, Lit(" started "), Val("T-1"), Lit(": "), Val(strip_markers(title))))
    assert [s for s in text.spans if isinstance(s, Mention)] == [ANA]


@settings(max_examples=200, deadline=None)
@given(name=st.text(alphabet=st.one_of(st.sampled_from(MARKERS), st.characters())))
def test_mention_name_cannot_break_out(catalog: Catalog, name: str) -> None:
    """A member name with marker or separator characters gives exactly one Mention, stripped."""
    who = Mention(member_id=9, name=name, platform="feishu", platform_user_id="ou_9")
    text = catalog.text("en", "task.started", task=_view(), who=who)
    clean = strip_markers(name).replace("\x1f", "")
    expected = Mention(member_id=9, name=clean, platform="feishu", platform_user_id="ou_9")
    assert text == Rich((expected, Lit(" started "), Val("T-1"), Lit(": "), Val("Write SRS")))


def test_rich_parameter_keeps_its_spans(catalog: Catalog) -> None:
    """A Rich passed as a parameter is printed span for span: Lit, Val and Mention unchanged."""
    value = Rich((Lit("by "), ANA, Lit(" for "), Val("<!here>")))
    assert catalog.text("en", "common.value", value=value) == value


def test_multi_line_message_keeps_a_value_with_a_line_break_as_a_value(catalog: Catalog) -> None:
    """Catalog.lines never turns part of a value into template words, even across a line break."""
    lines = catalog.lines("en", "errors.usage", usage="/task add x\n<!channel>", example="/x")
    lits = [span.text for line in lines for span in line.spans if isinstance(span, Lit)]
    assert lits == ["Usage: ", "Example: "]


# -- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "day", "shown"),
    [
        ("en", date(2026, 11, 23), "2026-11-23 (Mon)"),
        ("zh", date(2026, 11, 23), "2026-11-23 (周一)"),
        ("en", date(2026, 11, 29), "2026-11-29 (Sun)"),
        ("zh", date(2026, 11, 29), "2026-11-29 (周日)"),
        ("zh", date(2026, 12, 4), "2026-12-04 (周五)"),
    ],
)
def test_day_filter_names_the_weekday_in_the_locale(
    catalog: Catalog, locale: str, day: date, shown: str
) -> None:
    """The day filter prints an ISO date with the weekday abbreviated in the locale, as a Val."""
    assert catalog.text(locale, "common.due", task=_view(due=day)) == Rich((Val(shown),))
