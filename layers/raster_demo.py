"""The demo raster: a deterministic soil cadmium (Cd) risk surface over the farmland counties, as a COG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import geopandas as gpd
import rasterio
from rasterio.features import geometry_mask
from rasterio.transform import from_origin

from layers.rasters import raster_spec

RESOLUTION_DEG = 0.0005
"""About 50 m: fine enough for parcel-level zonal statistics, small enough to build in seconds."""
NODATA = -9999.0


def _surface(lon: np.ndarray, lat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return Cd in mg/kg: a low background plus seeded hotspots (smelting, mining, irrigation sources)."""
    x0, x1, y0, y1 = lon.min(), lon.max(), lat.min(), lat.max()
    cd = 0.15 + 0.1 * (lon - x0) / (x1 - x0)
    for _ in range(24):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        radius, peak = rng.uniform(0.01, 0.08), rng.uniform(0.2, 1.2)
        cd = cd + peak * np.exp(-((lon - cx) ** 2 + (lat - cy) ** 2) / (2 * radius**2))
    return cd.astype(np.float32)


def build_cadmium_cog(path: str | Path, boundaries_gdf: gpd.GeoDataFrame, seed: int = 2025) -> Path:
    """Write the demo Cd risk surface as a Cloud-Optimized GeoTIFF with overviews.

    Parameters
    ----------
    path : the .tif to write (parent folders are created).
    boundaries_gdf : county polygons (CRS84/EPSG:4326); rows with ``level == "city"`` are ignored.
    seed : the random seed; the same seed gives the same file contents.

    Returns
    -------
    The path written. The file is EPSG:4326 float32 (mg/kg, nodata -9999 outside the counties), deflate,
    512-px blocks, overviews 2-16, tagged ``DEMO=true``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    counties = boundaries_gdf[boundaries_gdf.get("level", "county") != "city"].to_crs("EPSG:4326")
    minx, miny, maxx, maxy = counties.total_bounds
    width, height = int(np.ceil((maxx - minx) / RESOLUTION_DEG)), int(np.ceil((maxy - miny) / RESOLUTION_DEG))
    transform = from_origin(minx, maxy, RESOLUTION_DEG, RESOLUTION_DEG)
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    lon, lat = minx + cols * RESOLUTION_DEG, maxy - rows * RESOLUTION_DEG
    data = _surface(lon, lat, np.random.default_rng(seed))
    outside = geometry_mask(list(counties.geometry), out_shape=(height, width), transform=transform)
    data[outside] = NODATA
    spec = raster_spec("soil-cadmium")
    profile = {
        "driver": "COG",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": transform,
        "nodata": NODATA,
        "compress": "deflate",
        "blocksize": 512,
        "overview_resampling": "average",
        "overviews": "AUTO",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.update_tags(DEMO="true", UNIT=spec.unit, TITLE=spec.title_en, SEED=str(seed), DESCRIPTION=spec.description)
        dst.set_band_description(1, "Cd mg/kg (demo)")
    return path


def build_demo_rasters(
    data_dir: str | Path, seed: int = 2025, boundaries_gdf: gpd.GeoDataFrame | None = None
) -> list[Path]:
    """Build every demo raster of the registry into ``data_dir`` (boundaries: the real county polygons)."""
    if boundaries_gdf is None:
        from layers.boundaries import load_boundaries

        boundaries_gdf = load_boundaries()
    return [build_cadmium_cog(Path(data_dir) / raster_spec("soil-cadmium").filename, boundaries_gdf, seed)]
