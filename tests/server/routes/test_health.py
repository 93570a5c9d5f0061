"""/healthz reports every layer's data version, and names missing layers with a 503."""

from fastapi.testclient import TestClient


def test_health_lists_versions(client, registry):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and set(body["versions"]) == set(registry.ids()) and body["pid"] > 0


def test_health_names_missing_layers(tmp_path, app_factory, registry):
    with TestClient(app_factory(tmp_path / "empty.gpkg")) as empty:
        response = empty.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "incomplete" and set(response.json()["missing"]) == set(registry.ids())
