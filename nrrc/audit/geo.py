"""Is an observed location inside a notified area? Circles by great-circle distance, polygons by
ray casting.

A circle contains a point when the haversine distance from its centre (on a sphere of radius
6,371.0088 km, the IUGG mean Earth radius) is at most its radius. A polygon contains a point when
the point is inside the ring of its boundary points taken in order on a plane of longitude and
latitude (a point on the boundary counts as inside); rings crossing the antimeridian are
unwrapped around the point first.
"""

from __future__ import annotations

import math
from typing import Any

from nrrc.messages import Circle, Point, Polygon

__all__ = ["EARTH_RADIUS_KM", "contains", "haversine_km"]

EARTH_RADIUS_KM = 6371.0088


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance between two points, in kilometres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _unwrap(lon: float, ref: float) -> float:
    while lon - ref > 180:
        lon -= 360
    while lon - ref < -180:
        lon += 360
    return lon


def _in_polygon(point: Point, polygon: Polygon) -> bool:
    x, y = point.lon, point.lat
    pts = [(_unwrap(p.lon, x), p.lat) for p in polygon.points]
    inside = False
    n = len(pts)
    for i in range(n):
        x1, y1 = pts[i]
        x2, y2 = pts[(i + 1) % n]
        # On the segment: inside.
        cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
        if (
            abs(cross) < 1e-12
            and min(x1, x2) - 1e-12 <= x <= max(x1, x2) + 1e-12
            and min(y1, y2) - 1e-12 <= y <= max(y1, y2) + 1e-12
        ):
            return True
        if (y1 > y) != (y2 > y):
            xs = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xs:
                inside = not inside
    return inside


def contains(area: Any, point: Point) -> bool | None:
    """Whether ``area`` (a Circle, a Polygon, or a list of them) contains ``point``.

    Returns None when ``area`` is not an area at all (the rule's area field holds something
    else), so that the caller can ignore it.
    """
    if isinstance(area, Circle):
        return haversine_km(area.center, point) <= area.radius_km
    if isinstance(area, Polygon):
        return _in_polygon(point, area)
    if isinstance(area, list | tuple):
        verdicts = [contains(a, point) for a in area]
        known = [v for v in verdicts if v is not None]
        return any(known) if known else None
    return None
