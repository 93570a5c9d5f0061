"""Interactive maps of the plan, built from a store and the catalogue with no HTTP request (notebooks use them too).

``build_plan_map``, ``build_progress_map`` and ``build_nearby_map`` return ``folium.Map`` objects; the
``*_page`` functions return whole HTML pages. Pass ``root``/``static`` (the planmap server's URL) when the
map is shown outside planmap, e.g. in a notebook.
"""

from server.maps.data import MapQuery
from server.maps.nearby import NearbyQuery, build_nearby_map, nearby_page
from server.maps.pages import layer_page, plan_page
from server.maps.plan import build_plan_map
from server.maps.progress import build_progress_map, progress_page

__all__ = [
    "MapQuery",
    "NearbyQuery",
    "build_nearby_map",
    "build_plan_map",
    "build_progress_map",
    "layer_page",
    "nearby_page",
    "plan_page",
    "progress_page",
]
