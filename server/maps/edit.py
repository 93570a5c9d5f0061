"""The planners' map editor: draw or reshape a project's outline and edit its attributes, saved via Part 4."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from layers.boundaries import DIVISIONS
from layers.edit_values import DERIVED
from layers.models import FieldSpec, Layer
from server.maps.i18n import Lang, status_label, title
from server.maps.pages import nav_links
from server.maps.render import environment

_SYSTEM = frozenset({"id", "updated_at", "start_date", "completed_date", "is_demo", "source"})
"""Fields the editor does not offer: set by the server or by progress reports (an empty county is found
from the outline)."""
_DRAW = {"MultiPolygon": "Polygon", "MultiLineString": "Line", "Point": "Marker", "MultiPoint": "Marker"}
_TEXT: dict[str, tuple[str, str]] = {
    "heading": ("项目编辑", "Project editor"),
    "new": ("新建项目(在地图上绘制)", "New project (draw on the map)"),
    "hint": (
        "点击地图上的项目进行编辑,或新建项目并绘制范围。",
        "Click a project to edit it, or start a new one and draw it.",
    ),
    "token": ("访问令牌(规划人员)", "Access token (planner)"),
    "token_hint": ("保存修改需要令牌;令牌保存在本机浏览器中", "Saving needs the token; it is kept in this browser"),
    "save": ("保存", "Save"),
    "delete": ("删除项目", "Delete project"),
    "confirm_delete": ("确定删除该项目?其历史记录将保留。", "Delete this project? Its history is kept."),
    "editing": ("正在编辑", "Editing"),
    "creating": ("新项目:请在地图上绘制范围", "New project: draw its outline on the map"),
    "drawn": ("已绘制范围", "Outline drawn"),
    "no_geometry": ("请先在地图上绘制项目范围。", "Draw the project's outline on the map first."),
    "saving": ("正在保存…", "Saving…"),
    "saved": ("已保存", "Saved"),
    "deleted": ("已删除", "Deleted"),
    "refused": ("保存失败", "Not saved"),
    "network": ("网络错误,请稍后重试。", "Network error: try again later."),
}


def edit_text(key: str, lang: Lang) -> str:
    """Return the editor's UI string ``key`` in ``lang``."""
    zh, en = _TEXT[key]
    return en if lang == "en" else zh


def _input(spec: FieldSpec, layer: Layer, lang: Lang) -> dict[str, Any]:
    """Return how the form shows one field: its label, input kind and choices."""
    label = f"{spec.alias_en}" if lang == "en" else f"{spec.alias_zh}"
    label += f" ({spec.unit})" if spec.unit else ""
    kind = {"int": "number", "float": "number", "date": "date", "bool": "checkbox", "json": "json"}.get(
        spec.type, "text"
    )
    choices: list[tuple[str, str]] = []
    if spec.name == "status":
        kind, choices = "select", [(s.value, status_label(s, lang)) for s in layer.statuses]
    elif spec.name == "county":
        kind = "select"
        choices = [(c, DIVISIONS[c].name_en if lang == "en" else DIVISIONS[c].name) for c in spec.values or ()]
    elif spec.values:
        kind, choices = "select", [(v, v) for v in spec.values]
    step = "1" if spec.type == "int" else "any"
    return {"name": spec.name, "label": label, "kind": kind, "choices": choices, "step": step, "type": spec.type}


def editable_fields(layer: Layer, lang: Lang) -> list[dict[str, Any]]:
    """Return the form's fields in catalogue order (derived and server-set fields left out)."""
    return [_input(f, layer, lang) for f in layer.fields if f.name not in _SYSTEM and f.name not in DERIVED]


def _json(value: Any) -> Markup:
    # "<" escaped so the JSON cannot close the <script> element it sits in
    return Markup(json.dumps(value, ensure_ascii=False).replace("<", "\\u003c"))


def edit_page(layer: Layer, lang: Lang, user: str, here: str = "", csrf: str | None = None) -> str:
    """Return the editor page of a project layer for a signed-in planner.

    With a password session (``csrf``, its token) saves go through the session; a planner signed in with
    a token (a read-only cookie) enters the token on the page instead.
    """
    fields = editable_fields(layer, lang)
    config = {
        "layer": layer.id,
        "draw": _DRAW[layer.geometry_type],
        "items": f"/collections/{layer.id}/items",
        "counties": "/collections/counties/items",
        "fields": [{"name": f["name"], "type": f["type"], "kind": f["kind"]} for f in fields],
        "colors": layer.status_colors,
        "text": {k: edit_text(k, lang) for k in _TEXT},
        "csrf": csrf,
    }
    return (
        environment()
        .get_template("map_edit.html")
        .render(
            html_lang="en" if lang == "en" else "zh-CN",
            e=lambda key: edit_text(key, lang),
            layer_title=title(layer, lang),
            user=user,
            fields=fields,
            links=nav_links(lang, here),
            config=_json(config),
            session=csrf is not None,
        )
    )
