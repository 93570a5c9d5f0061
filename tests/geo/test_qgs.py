"""QGIS project XML: structure QGIS reads, and every name, label and value escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from geo.qgs import Category, Project, VectorLayer, oapif_source, project_xml

NASTY = "<&>'\" 农田 ]]>"


def nasty_project() -> Project:
    layer = VectorLayer(
        id="l1",
        name=f"图层 {NASTY}",
        provider="OAPIF",
        source=oapif_source("http://example.test/a'b", "farm<land>", f"\"name\" = '{NASTY}'"),
        symbol="fill",
        attribute="status",
        categories=(Category(NASTY, f"标签 {NASTY}", "#16A34A"), Category("planned", "未开工", "#9ca3af")),
        label_field="name",
    )
    return Project(title=f"标题 {NASTY}", crs="EPSG:3857", extent=(1.0, 2.0, 3.0, 4.0), layers=(layer,))


def test_names_labels_and_values_round_trip_escaped():
    data = project_xml(nasty_project())
    assert data.startswith(b"<!DOCTYPE qgis")
    assert b"<&>" not in data and b"&lt;&amp;&gt;" in data
    root = ET.fromstring(data)
    assert root.get("projectname") == root.findtext("title") == f"标题 {NASTY}"
    layer = root.find("projectlayers/maplayer")
    assert layer is not None and layer.findtext("layername") == f"图层 {NASTY}"
    assert root.find("layer-tree-group/layer-tree-layer").get("name") == f"图层 {NASTY}"
    categories = layer.findall("renderer-v2/categories/category")
    assert [(c.get("value"), c.get("label")) for c in categories] == [(NASTY, f"标签 {NASTY}"), ("planned", "未开工")]
    colors = [s.find("layer/Option/Option[@name='color']").get("value") for s in layer.iter("symbol")]
    assert colors == ["22,163,74,150", "156,163,175,150"]
    assert layer.find("labeling/settings/text-style").get("fieldName") == "name"


def test_oapif_source_quotes_as_qgis_does():
    source = oapif_source("http://h/a'b", "farmland", "\"county\" IN ('430321')")
    assert source == (
        "url='http://h/a\\'b' typename='farmland' restrictToRequestBBOX='1' filter='\"county\" IN (\\'430321\\')'"
    )
    assert oapif_source("http://h", "farmland") == "url='http://h' typename='farmland' restrictToRequestBBOX='1'"


def test_project_crs_and_extent():
    root = ET.fromstring(project_xml(nasty_project()))
    assert root.findtext("projectCrs/spatialrefsys/authid") == "EPSG:3857"
    assert "Pseudo-Mercator" in (root.findtext("projectCrs/spatialrefsys/wkt") or "")
    assert root.findtext("properties/SpatialRefSys/ProjectionsEnabled") == "1"
    assert [root.findtext(f"mapcanvas/extent/{k}") for k in ("xmin", "ymin", "xmax", "ymax")] == [
        "1.0",
        "2.0",
        "3.0",
        "4.0",
    ]
    for tag in ("DefaultViewExtent", "PresetFullExtent"):
        view = root.find(f"ProjectViewSettings/{tag}")
        assert view is not None and [view.get(k) for k in ("xmin", "ymin", "xmax", "ymax")] == [
            "1.0",
            "2.0",
            "3.0",
            "4.0",
        ]
        assert view.findtext("spatialrefsys/authid") == "EPSG:3857"
