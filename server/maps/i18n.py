"""UI strings of the map pages: Chinese first (zh-CN), English with ``?lang=en``."""

from __future__ import annotations

from typing import Literal

from layers.models import FieldSpec, Layer, StatusSpec

Lang = Literal["zh", "en"]

OVERDUE = StatusSpec(value="overdue", label_zh="逾期", label_en="Overdue", color="#b91c1c")
"""The derived status of a project past its due date and not done."""

_TEXT: dict[str, tuple[str, str]] = {
    "plan_title": ("湘潭市2025年重点项目分布图", "Xiangtan 2025 work-plan projects"),
    "progress_title": ("项目进度", "Progress"),
    "nearby_title": ("附近项目", "Projects nearby"),
    "open_in_qgis": ("在QGIS中打开", "Open in QGIS"),
    "legend": ("图例", "Legend"),
    "basemap_offline": ("离线底图", "Offline basemap"),
    "basemap_osm": ("OpenStreetMap(在线)", "OpenStreetMap (online)"),
    "basemap_tianditu": ("天地图(在线)", "Tianditu (online)"),
    "basemap_amap": ("高德地图(在线, GCJ-02)", "AMap (online, GCJ-02)"),
    "record": ("查看完整记录", "Full record"),
    "progress": ("进度", "Progress"),
    "status": ("状态", "Status"),
    "locate": ("定位到我的位置", "Show my location"),
    "locate_failed": ("无法获取位置", "Location unavailable"),
    "county": ("区县", "County"),
    "all_counties": ("全市", "Whole city"),
    "as_of": ("截至日期", "As of"),
    "show": ("查看", "Show"),
    "layer": ("图层", "Layer"),
    "done_of_target": ("已完成", "Done"),
    "by_county": ("各区县完成情况", "Done by county"),
    "burnup": ("逐月累计完成", "Monthly burn-up"),
    "overdue_list": ("逾期项目", "Overdue projects"),
    "lights_table": ("序时进度红黄绿灯(各区县)", "Progress against time: lights by county"),
    "green": ("绿灯", "Green"),
    "yellow": ("黄灯", "Yellow"),
    "red": ("红灯", "Red"),
    "done_late": ("其中逾期完成", "Of which done late"),
    "city": ("全市", "City"),
    "dashboard": ("计划看板", "Dashboard"),
    "quota_table": ("各区县任务分解完成情况", "Counties against their quotas"),
    "quota": ("分解任务", "Quota"),
    "none": ("无", "None"),
    "due": ("计划完成", "Due"),
    "distance": ("距离", "Distance"),
    "direction": ("方位", "Direction"),
    "radius": ("搜索半径", "Search radius"),
    "use_location": ("使用我的位置", "Use my location"),
    "you_are_here": ("您的位置", "You are here"),
    "no_nearby": ("附近没有项目", "No projects nearby"),
    "features": ("个项目", "projects"),
    "target": ("目标", "Target"),
    "plan_map": ("分布图", "Plan map"),
    "records": ("记录", "Records"),
    "report": ("上报进度", "Report progress"),
    "language": ("English", "中文"),
}

_DIRECTIONS = {
    "zh": ("北", "东北", "东", "东南", "南", "西南", "西", "西北"),
    "en": ("N", "NE", "E", "SE", "S", "SW", "W", "NW"),
}


def parse_lang(value: str | None) -> Lang:
    """Return ``en`` for an English request (``en``, ``en-US``...), else ``zh``."""
    return "en" if value and value.lower().startswith("en") else "zh"


def text(key: str, lang: Lang) -> str:
    """Return the UI string ``key`` in ``lang``."""
    zh, en = _TEXT[key]
    return en if lang == "en" else zh


def title(layer: Layer, lang: Lang) -> str:
    """Return a layer's title."""
    return layer.title_en if lang == "en" else layer.title_zh


def alias(spec: FieldSpec, lang: Lang) -> str:
    """Return a field's alias."""
    return spec.alias_en if lang == "en" else spec.alias_zh


def status_label(spec: StatusSpec, lang: Lang) -> str:
    """Return a status' label."""
    return spec.label_en if lang == "en" else spec.label_zh


def direction(bearing_deg: float, lang: Lang) -> str:
    """Return the eight-point compass direction of a bearing (0 = north, clockwise), e.g. 东北."""
    return _DIRECTIONS[lang][int(((bearing_deg % 360) + 22.5) // 45) % 8]
