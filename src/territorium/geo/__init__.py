"""Offline reference geography and unit building.

Public API: :func:`build_units`, :func:`locate`, :func:`zip_to_unit`,
:func:`virtual_edge_report`, :func:`zip_centroid`, :func:`city_coordinates`,
:func:`match_counties`, :func:`grid_units`.
"""
from territorium.geo.build import LEVELS, build_units, read_polygons, zip_to_unit
from territorium.geo.connect import connect_components, virtual_edge_report
from territorium.geo.counties import match_counties, normalize_county_name
from territorium.geo.geocode import city_coordinates, zip_centroid
from territorium.geo.grid import grid_units
from territorium.geo.locate import locate
from territorium.geo.report import units_summary

__all__ = [
    "LEVELS",
    "build_units",
    "city_coordinates",
    "connect_components",
    "grid_units",
    "locate",
    "match_counties",
    "normalize_county_name",
    "read_polygons",
    "units_summary",
    "virtual_edge_report",
    "zip_centroid",
    "zip_to_unit",
]
