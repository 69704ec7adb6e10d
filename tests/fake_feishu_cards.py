"""Card JSON 2.0 as the open platform documents it, for the fake Feishu: the properties
each component may carry. In JSON 2.0 Feishu refuses a property a component does not
support ("传入不支持的属性将报错", the JSON 2.0 release notes), where 1.0 ignored it.

Read from the open platform's pages "卡片 JSON 2.0 结构" (card, config, header, body)
and the JSON 2.0 component pages (feishu-cards/card-json-v2-components/…): rich text
(markdown), button, column set (column_set, column), form container (form), input,
table, image (img), divider (hr), plain text. Only the components and nested objects
teambot might send are listed; any other tag is refused too. Objects under a property
we never send (`confirm`, `icon`, `style`, `streaming_config`…) are not looked into.

`problem(card)` names the first property or tag Feishu would refuse, as a path
(`body.elements[2].colour`), or None.
"""

from __future__ import annotations

from typing import Any


def _names(words: str) -> set[str]:
    return set(words.split())


CARD = _names("schema config card_link header body")
CONFIG = _names(
    "streaming_mode streaming_config summary locales enable_forward update_multi width_mode"
    " use_custom_translation enable_forward_interaction style"
)
SUMMARY = _names("content i18n_content")
HEADER = _names("title subtitle text_tag_list i18n_text_tag_list template icon padding")
LAYOUT = _names(
    "direction padding horizontal_spacing horizontal_align vertical_spacing vertical_align"
)
BODY = LAYOUT | {"elements"}
TEXT = _names("tag content i18n_content text_size text_color text_align lines")
COMMON = _names("tag element_id margin")
TAGS: dict[str, set[str]] = {
    "markdown": COMMON | _names("content i18n_content text_align text_size icon"),
    "hr": COMMON,
    "img": COMMON | _names("img_key alt title transparent preview corner_radius scale_type size"),
    "button": COMMON
    | _names(
        "type size width text i18n_text icon hover_tips disabled disabled_tips confirm"
        " behaviors form_action_type name"
    ),
    "column_set": COMMON
    | _names("horizontal_spacing horizontal_align flex_mode background_style columns action"),
    "column": COMMON | LAYOUT | _names("background_style width weight action elements"),
    "form": COMMON | LAYOUT | _names("name elements"),
    "input": COMMON
    | _names(
        "name required disabled placeholder default_value width max_length input_type"
        " show_icon rows auto_resize max_rows label label_position value confirm behaviors"
    ),
    "table": COMMON
    | _names("page_size row_height row_max_height freeze_first_column header_style columns rows"),
}
TABLE_COLUMN = _names(
    "name display_name width data_type format vertical_align horizontal_align date_format"
)
BEHAVIORS = {
    "callback": _names("type value"),
    "open_url": _names("type default_url pc_url ios_url android_url"),
}
TEXTS = {"text", "placeholder", "alt", "title", "subtitle", "label"}  # plain_text objects


def problem(card: Any) -> str | None:
    if not isinstance(card, dict):
        return "card"
    if card.get("schema") != "2.0":
        return "schema"
    return (
        _keys(card, CARD, "")
        or _object(card.get("config"), CONFIG, "config")
        or _object(_get(card, "config", "summary"), SUMMARY, "config.summary")
        or _header(card.get("header"))
        or _object(card.get("body"), BODY, "body")
        or _elements(_get(card, "body", "elements"), "body.elements")
    )


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _keys(obj: dict[str, Any], allowed: set[str], path: str) -> str | None:
    for key in obj:
        if key not in allowed:
            return f"{path}.{key}" if path else key
    return None


def _object(obj: Any, allowed: set[str], path: str) -> str | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        return path
    return _keys(obj, allowed, path)


def _text(obj: Any, path: str) -> str | None:
    if not isinstance(obj, dict) or obj.get("tag") not in ("plain_text", "lark_md"):
        return path
    return _keys(obj, TEXT, path)


def _header(header: Any) -> str | None:
    if header is None:
        return None
    problem_ = _object(header, HEADER, "header")
    if problem_:
        return problem_
    for key in ("title", "subtitle"):
        if key in header and (found := _text(header[key], f"header.{key}")):
            return found
    return None


def _elements(elements: Any, path: str) -> str | None:
    if elements is None:
        return None
    if not isinstance(elements, list):
        return path
    for n, element in enumerate(elements):
        found = _element(element, f"{path}[{n}]")
        if found:
            return found
    return None


def _element(element: Any, path: str) -> str | None:
    if not isinstance(element, dict):
        return path
    tag = element.get("tag")
    allowed = TAGS.get(tag) if isinstance(tag, str) else None
    if allowed is None:
        return f"{path}.tag"
    found = _keys(element, allowed, path)
    if found:
        return found
    for key in sorted(TEXTS & element.keys()):
        if found := _text(element[key], f"{path}.{key}"):
            return found
    for n, behavior in enumerate(element.get("behaviors") or []):
        kind = behavior.get("type") if isinstance(behavior, dict) else None
        keys = BEHAVIORS.get(kind) if isinstance(kind, str) else None
        if keys is None:
            return f"{path}.behaviors[{n}]"
        if found := _keys(behavior, keys, f"{path}.behaviors[{n}]"):
            return found
    if tag == "table":
        return _table(element, path)
    if tag == "column_set":
        return _elements(element.get("columns"), f"{path}.columns")
    return _elements(element.get("elements"), f"{path}.elements")


def _table(table: dict[str, Any], path: str) -> str | None:
    names = set()
    for n, column in enumerate(table.get("columns") or []):
        if not isinstance(column, dict):
            return f"{path}.columns[{n}]"
        if found := _keys(column, TABLE_COLUMN, f"{path}.columns[{n}]"):
            return found
        names.add(column.get("name"))
    for n, row in enumerate(table.get("rows") or []):
        if not isinstance(row, dict):
            return f"{path}.rows[{n}]"
        if found := _keys(row, names, f"{path}.rows[{n}]"):
            return found
    return None
