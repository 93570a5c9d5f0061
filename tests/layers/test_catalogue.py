"""The plan catalogue: layers, schemas, targets quoted from the work plan."""

import json
from datetime import date

import pytest

from layers.errors import UnknownLayer
from layers.plan_model import Plan, PlanTarget
from layers.registry import load_catalogue

EXPECTED_TARGETS = {
    "farmland": (100_000, "sum", "亩"),
    "reservoirs": (25, "count", "座"),
    "water-sections": (14, "count", "个"),
    "old-communities": (144, "count", "个"),
    "black-odorous-waters": (33, "count", "处"),
    "road-junctions": (65, "count", "处"),
    "emergency-stations": (10, "count", "个"),
}


def test_catalogue_has_the_plan_layers(registry):
    ids = registry.ids()
    for layer_id in [*EXPECTED_TARGETS, "logistics-hubs", "transport-links", "counties"]:
        assert layer_id in ids
    assert all(layer.id.isascii() for layer in registry)


@pytest.mark.parametrize("layer_id", EXPECTED_TARGETS)
def test_targets_match_the_work_plan(registry, layer_id):
    value, measure, unit = EXPECTED_TARGETS[layer_id]
    target = registry.get(layer_id).target
    assert (target.value, target.measure, target.unit_zh) == (value, measure, unit)
    assert target.quote_zh
    if measure == "sum":
        assert target.field in registry.get(layer_id).field_names


def test_project_layers_share_the_common_fields_and_statuses(registry):
    for layer in registry.projects():
        names = layer.field_names
        assert names[:2] == ["id", "name"]
        for common in ("county", "status", "progress_pct", "due_date", "is_demo"):
            assert common in names
        assert len(names) == len(set(names))
        assert layer.statuses and all(s.label_zh and s.color.startswith("#") for s in layer.statuses)
        assert all(f.alias_zh and f.alias_en for f in layer.fields)
        assert set(layer.target.done_statuses) <= {s.value for s in layer.statuses}


def test_water_sections_count_compliance_not_completion(registry):
    layer = registry.get("water-sections")
    assert layer.target.done_statuses == ("compliant",)
    assert layer.field("status").alias_zh == "达标状态"


def test_counties_are_context_without_target(registry):
    counties = registry.get("counties")
    assert counties.kind == "context" and counties.target is None
    assert "county" not in counties.field_names


def test_unknown_layer_names_the_known_ones(registry):
    with pytest.raises(UnknownLayer, match="farmland"):
        registry.get("nope")


def test_adding_a_layer_is_a_data_change(tmp_path):
    from importlib import resources

    data = json.loads(resources.files("layers").joinpath("data/catalogue.json").read_text(encoding="utf-8"))
    data["layers"].append(
        {
            "id": "sponge-city",
            "title_zh": "海绵城市",
            "title_en": "Sponge city",
            "description_zh": "海绵城市建设片区",
            "description_en": "Sponge-city works",
            "geometry_type": "MultiPolygon",
            "statuses": [{"value": "completed", "label_zh": "已完成", "label_en": "Done", "color": "#16a34a"}],
            "fields": [{"name": "area_km2", "type": "float", "alias_zh": "面积", "alias_en": "Area"}],
        }
    )
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    sponge = PlanTarget(
        layer="sponge-city",
        quote_zh="建成海绵城市5平方公里",
        value=5,
        unit_zh="km²",
        unit_en="km2",
        measure="sum",
        field="area_km2",
        due=date(2026, 12, 31),
    )
    plan = Plan(year=2026, title_zh="2026年", targets=(sponge,))
    registry = load_catalogue(path, plan=plan)
    layer = registry.get("sponge-city")
    assert layer.target.value == 5 and "county" in layer.field_names and "area_km2" in layer.field_names
    assert len(registry) == len(load_catalogue()) + 1
    assert registry.get("farmland").target is None  # a plan without a farmland target
    assert load_catalogue(path).get("sponge-city").target is None  # the 2025 seed plan has none


def test_targets_belong_to_plans_not_the_catalogue(tmp_path):
    from importlib import resources

    data = json.loads(resources.files("layers").joinpath("data/catalogue.json").read_text(encoding="utf-8"))
    data["layers"][0]["target"] = {"quote_zh": "x", "value": 1, "unit_zh": "个", "unit_en": "x", "measure": "count"}
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="targets belong to plans"):
        load_catalogue(path)
