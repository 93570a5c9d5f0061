"""What a layer looks like in a store, to assert that a refused import changed nothing."""

from geopandas.testing import assert_geodataframe_equal


def snapshot(store, layer_id):
    """Return the layer's version, features and history length."""
    return store.version(layer_id), store.read(layer_id), len(store.history(layer_id))


def assert_unchanged(store, layer_id, before):
    """Assert the layer is as ``snapshot`` saw it: same version, same features, no new history."""
    version, frame, history = before
    assert store.version(layer_id) == version
    assert_geodataframe_equal(store.read(layer_id), frame)
    assert len(store.history(layer_id)) == history
