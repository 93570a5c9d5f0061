"""Open a QGIS project with QGIS's own Python (not planmap's) and print its layers as JSON.

Run as ``/usr/bin/python3 qgis_read_project.py PROJECT.qgs [IMAGE.png]`` with ``QT_QPA_PLATFORM=offscreen``: the
project's CRS and extents and, for each layer, its name, validity, provider, subset, feature count (OAPIF layers
fetch every page from the server), the features' ids, renderer type and categories (value, label, colour) and
the label field. With IMAGE, the project's initial view is also rendered there (800 x 800 pixels, with labels).
"""

import json
import sys

from qgis.core import QgsApplication, QgsMapRendererSequentialJob, QgsMapSettings, QgsProject
from qgis.PyQt.QtCore import QSize

app = QgsApplication([], False)
app.initQgis()
project = QgsProject.instance()
if not project.read(sys.argv[1]):
    sys.exit(f"QGIS could not read {sys.argv[1]}: {project.error()}")
extent = project.viewSettings().defaultViewExtent()
full = project.viewSettings().presetFullExtent()
out = {
    "title": project.title(),
    "crs": project.crs().authid(),
    "extent": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()],
    "extentCrs": extent.crs().authid(),
    "fullExtent": [full.xMinimum(), full.yMinimum(), full.xMaximum(), full.yMaximum()],
    "layers": [],
}
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
if len(sys.argv) > 2:
    settings = QgsMapSettings()
    settings.setLayers(project.layerTreeRoot().layerOrder())
    settings.setDestinationCrs(project.crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(800, 800))
    settings.setFlag(QgsMapSettings.DrawLabeling, True)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(sys.argv[2])
print(json.dumps(out, ensure_ascii=False))
app.exitQgis()
