"""GCJ-02 (AMap, Tencent) and BD-09 (Baidu) lon/lat to and from WGS84, vectorised over numpy arrays."""

import math
from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]


# GCJ-02 ("Mars coordinates") has no EPSG code and PROJ does not implement it, so this is the public
# reverse-engineered formula (eviltransform / coordtransform), on the Krasovsky ellipsoid.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def out_of_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return True where the public GCJ-02 formula leaves coordinates unchanged.

    The test is the rough box used by eviltransform and coordTransform_py (72.004-137.8347E,
    0.8293-55.8271N); it also covers the Korean peninsula and parts of neighbouring countries.
    """
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return np.asarray((x < 72.004) | (x > 137.8347) | (y < 0.8293) | (y > 55.8271))


def _gcj_shift(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = np.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    dlat = dlat * 180.0 / (_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (magic * np.sqrt(magic)) * np.pi)
    dlon = dlon * 180.0 / (_KRASOVSKY_A / np.sqrt(magic) * np.cos(radlat) * np.pi)
    return lon + dlon, lat + dlat


def as_float_pair(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return lon and lat as float arrays broadcast to one shape."""
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.array(x), np.array(y)


def _invert(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    target: tuple[FloatArray, FloatArray],
    start: tuple[FloatArray, FloatArray],
    mask: npt.NDArray[np.bool_],
    tol_deg: float,
    max_iter: int,
) -> tuple[FloatArray, FloatArray]:
    # Both offsets vary slowly (Jacobian close to the identity), so x <- x - (F(x) - target) contracts fast.
    x, y = start
    for _ in range(max_iter):
        fx, fy = forward(x, y)
        ex, ey = fx - target[0], fy - target[1]
        if not np.any(mask & ((np.abs(ex) > tol_deg) | (np.abs(ey) > tol_deg))):
            break
        x, y = np.where(mask, x - ex, x), np.where(mask, y - ey, y)
    return x, y


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 lon/lat to GCJ-02 (AMap, Tencent); identity where :func:`out_of_china`.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 lon and lat, broadcast to a common shape (0-d for scalars).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(128.543, 37.065)
    >>> round(float(lon), 8), round(float(lat), 8)
    (128.54820548, 37.06565105)
    """
    x, y = as_float_pair(lon, lat)
    gx, gy = _gcj_shift(x, y)
    inside = ~out_of_china(x, y)
    return np.where(inside, gx, x), np.where(inside, gy, y)


def gcj02_to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, tol_deg: float = 1e-10, max_iter: int = 30
) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 lon/lat to WGS84 by fixed-point iteration of the forward formula.

    The one-step inverse of most snippets is off by up to about 3 m in Xiangtan; iterating
    converges in a few steps to well below a millimetre.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 coordinates in degrees.
    tol_deg : float
        Stop once re-applying the forward formula reproduces the input within this many degrees.
    max_iter : int
        Upper bound on iterations; the best estimate so far is returned when it is reached.
    """
    gx, gy = as_float_pair(lon, lat)
    return _invert(_gcj_shift, (gx, gy), (gx, gy), ~out_of_china(gx, gy), tol_deg, max_iter)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 lon/lat to Baidu BD-09 (public formula, applied everywhere)."""
    x, y = as_float_pair(lon, lat)
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return np.asarray(z * np.cos(theta) + 0.0065), np.asarray(z * np.sin(theta) + 0.006)


def bd09_to_gcj02(
    lon: npt.ArrayLike, lat: npt.ArrayLike, tol_deg: float = 1e-10, max_iter: int = 30
) -> tuple[FloatArray, FloatArray]:
    """Convert Baidu BD-09 lon/lat to GCJ-02.

    Starts from the public closed-form inverse (whose round trip errs by up to about 0.11 m) and
    refines it by fixed-point iteration of :func:`gcj02_to_bd09`; parameters as in :func:`gcj02_to_wgs84`.
    """
    bx, by = as_float_pair(lon, lat)
    x, y = bx - 0.0065, by - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    start = (np.asarray(z * np.cos(theta)), np.asarray(z * np.sin(theta)))
    return _invert(gcj02_to_bd09, (bx, by), start, np.ones(bx.shape, dtype=bool), tol_deg, max_iter)


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 lon/lat to Baidu BD-09 (via GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert Baidu BD-09 lon/lat to WGS84 (via GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
