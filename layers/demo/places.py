"""Place names and anchor coordinates the demo generator uses (real where sourced, else generic).

Coordinates are WGS84 lon/lat. Those marked V come from the fact sheet (``/work/shared/reference``);
the others are A* placeholders from geography and must not be read as surveyed positions.
"""

from __future__ import annotations

from dataclasses import dataclass

CITY_GOVERNMENT = (112.9454, 27.8313)
"""湘潭市人民政府, inside 岳塘区 (V)."""

JIUHUA_BOX = (112.80, 27.91, 112.97, 28.04)
"""Rough lon/lat box of 九华 (湘潭经开区), north of the city on the west bank of 湘江 (A*)."""

CITY_FRINGE_BOX = (112.86, 27.84, 113.10, 28.10)
"""雨湖区 east of 112.86E (湘潭大学城, 九华) and 岳塘区: built-up or planned urban land, no farmland (A*)."""


@dataclass(frozen=True)
class UrbanArea:
    """A built-up area: a centre, a radius and the county it lies in."""

    name: str
    county: str
    lon: float
    lat: float
    radius_m: float


URBAN_AREAS = (
    UrbanArea("雨湖城区", "430302", 112.905, 27.862, 3500.0),  # old town on the west bank (A*)
    UrbanArea("岳塘城区", "430304", 112.950, 27.848, 3800.0),  # around the city government (A*)
    UrbanArea("易俗河", "430321", 112.9455, 27.7826, 2200.0),  # 湘潭县 seat (V)
    UrbanArea("湘乡城区", "430381", 112.530, 27.738, 2600.0),  # near 湘乡站 27.748N 112.524E (A*)
    UrbanArea("韶山城区", "430382", 112.525, 27.925, 1600.0),  # 清溪镇 (A*)
)

TOWNSHIPS: dict[str, tuple[str, ...]] = {
    "430302": ("姜畲镇", "鹤岭镇", "楠竹山镇", "长城乡"),
    "430304": ("昭山镇", "易家湾镇", "荷塘街道"),
    "430321": (
        "花石镇",
        "石潭镇",
        "射埠镇",
        "茶恩寺镇",
        "白石镇",
        "中路铺镇",
        "杨嘉桥镇",
        "乌石镇",
        "河口镇",
        "青山桥镇",
        "石鼓镇",
        "云湖桥镇",
        "谭家山镇",
        "排头乡",
        "分水乡",
        "锦石乡",
    ),
    "430381": (
        "梅桥镇",
        "虞塘镇",
        "月山镇",
        "育塅乡",
        "东郊乡",
        "壶天镇",
        "棋梓镇",
        "山枣镇",
        "翻江镇",
        "金石镇",
        "白田镇",
        "毛田镇",
        "潭市镇",
        "龙洞镇",
        "泉塘镇",
    ),
    "430382": ("韶山乡", "杨林乡", "银田镇", "如意镇", "永义乡"),
}
"""Rural townships per county (real names; their positions in the demo are not their real ones)."""

STREETS: dict[str, tuple[str, ...]] = {
    "430302": ("雨湖路街道", "城正街街道", "广场街道", "窑湾街道", "云塘街道", "昭潭街道"),
    "430304": ("书院路街道", "建设路街道", "下摄司街道", "岳塘街道", "宝塔街道", "东坪街道", "霞城街道", "五里堆街道"),
    "430321": ("易俗河镇",),
    "430381": ("东山街道", "望春门街道", "新湘路街道", "昆仑桥街道"),
    "430382": ("清溪镇",),
}
"""Urban sub-districts (街道) or seat towns per county, used inside ``URBAN_AREAS``."""

ROADS: dict[str, tuple[str, ...]] = {
    "430302": (
        "韶山西路",
        "雨湖路",
        "中山路",
        "平政路",
        "车站路",
        "人民路",
        "熙春路",
        "建设北路",
        "基建营路",
        "和平路",
    ),
    "430304": (
        "建设南路",
        "书院路",
        "芙蓉路",
        "韶山东路",
        "宝塔路",
        "岳塘路",
        "东坪路",
        "五里堆路",
        "湘钢路",
        "河东大道",
    ),
    "430321": ("金霞路", "天易大道", "湘莲大道", "凤凰西路", "白石路", "易俗路"),
    "430381": ("东山路", "望春门路", "新湘路", "红仑大道", "昆仑桥路", "人民中路"),
    "430382": ("韶山路", "清溪路", "银田路", "迎宾路"),
}
"""Street names for generated community and junction names (plausible, not checked against a gazetteer)."""

UNITS = (
    "纺织厂",
    "机床厂",
    "电机厂",
    "钢铁厂",
    "粮食局",
    "供销社",
    "自来水公司",
    "电业局",
    "建筑公司",
    "百货公司",
    "轻工局",
    "交通局",
    "农机厂",
    "化工厂",
    "印刷厂",
    "卫生局",
    "二中",
    "师范",
    "运输公司",
    "食品公司",
)
"""Work units (单位) whose staff quarters (宿舍) name many old communities."""
