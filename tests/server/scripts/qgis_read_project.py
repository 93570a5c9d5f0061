"""Open a QGIS project with QGIS's own Python (not planmap's) and print its layers as JSON.

Run as ``/usr/bin/python3 qgis_read_project.py PROJECT.qgs`` with ``QT_QPA_PLATFORM=offscreen``: for each layer
its name, validity, provider, subset, feature count (OAPIF layers fetch every page from the server), the
features' ids, renderer type and categories (value, label, colour) and the label field.
"""

import json
import sys

from qgis.core import QgsApplication, QgsProject

app = QgsApplication([], False)
app.initQgis()
project = QgsProject.instance()
if not project.read(sys.argv[1]):
    sys.exit(f"QGIS could not read {sys.argv[1]}: {project.error()}")
out = {"title": project.title(), "crs": project.crs().authid(), "layers": []}
for layer in project.layerTreeRoot().layerOrder():
    renderer = layer.renderer()
    categories = []
    if renderer.type() == "categorizedSymbol":
        categories = [
            {"value": c.value(), "label": c.label(), "color": c.symbol().color().name()} for c in renderer.categories()
        ]
    ids = sorted(str(f["id"]) for f in layer.getFeatures()) if layer.isValid() else []
    labeling = layer.labeling()
    out["layers"].append(
        {
            "name": layer.name(),
            "valid": layer.isValid(),
            "provider": layer.providerType(),
            "subset": layer.subsetString(),
            "featureCount": layer.featureCount(),
            "ids": ids,
            "renderer": renderer.type(),
            "attribute": renderer.classAttribute() if renderer.type() == "categorizedSymbol" else "",
            "categories": categories,
            "symbolColor": renderer.symbol().color().name() if renderer.type() == "singleSymbol" else "",
            "labelsEnabled": layer.labelsEnabled(),
            "labelField": labeling.settings().fieldName if labeling is not None else "",
            "crs": layer.crs().authid(),
        }
    )
print(json.dumps(out, ensure_ascii=False))
app.exitQgis()
