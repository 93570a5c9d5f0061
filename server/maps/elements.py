"""Folium elements that hand their configuration to ``planmap.js`` (overlays, locate button, legend)."""

from __future__ import annotations

import json
from typing import Any

from branca.element import MacroElement
from folium.map import Layer
from folium.template import Template

_CALL = """
{% macro script(this, kwargs) %}
    var {{ this.get_name() }} = planmap.{{ this.function }}({{ this._parent.get_name() }}, {{ this.config_json }});
{% endmacro %}
"""


def _json(value: Any) -> str:
    # Escape "</" so a value can never close the surrounding <script> element.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


class PlanOverlay(Layer):
    """A layer drawn by ``planmap.geojson`` (GeoJSON) or ``planmap.vectorTiles`` (MVT), listed in the layer control."""

    _template = Template(_CALL)

    def __init__(self, name: str, config: dict[str, Any], *, tiles: bool = False, show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "PlanOverlay"
        self.function = "vectorTiles" if tiles else "geojson"
        self.config_json = _json(config)


class PlanControl(MacroElement):
    """A call to one of ``planmap.js``'s map helpers (``locate``, ``legend``, ``watchBase``) with an argument."""

    _template = Template(_CALL)

    def __init__(self, function: str, config: Any = None) -> None:
        super().__init__()
        self._name = "PlanControl"
        self.function = function
        self.config_json = _json(config)
