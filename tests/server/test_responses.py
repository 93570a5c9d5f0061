"""JSON serialisation of responses: NaN, pandas values and pre-serialised geometries."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd

from server.responses import GeoJSONResponse


def test_json_body_handles_pandas_values_and_fragments():
    content = {
        "nan": float("nan"),
        "na": pd.NA,
        "nat": pd.NaT,
        "when": pd.Timestamp("2025-06-30 08:00"),
        "n": np.int64(7),
        "geometry": orjson.Fragment('{"type":"Point","coordinates":[112.9,27.8]}'),
        "名": ["湘潭"],
    }
    body = GeoJSONResponse(content).body
    assert "湘潭".encode() in body  # UTF-8, not \\u escapes
    assert orjson.loads(body) == {
        "nan": None,
        "na": None,
        "nat": None,
        "when": "2025-06-30T08:00:00",
        "n": 7,
        "geometry": {"type": "Point", "coordinates": [112.9, 27.8]},
        "名": ["湘潭"],
    }
