"""The calibration table (``calibration.json``) as typed, ready-to-sample data.

The table is derived once from real rows by :mod:`emulator.calibrate` and ships
inside the package, so an installed emulator needs nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import accumulate
from typing import Any

__all__ = ["Area", "Calibration", "Offense", "load_calibration"]


@dataclass(frozen=True, slots=True)
class Offense:
    """One (iucr, primary_type, description, fbi_code) combination."""

    iucr: str
    primary_type: str
    description: str
    fbi_code: str
    arrest_rate: float
    domestic_rate: float


@dataclass(frozen=True, slots=True)
class Area:
    """One (beat, district, ward, community_area) combination and where its incidents lie."""

    beat: str
    district: str
    ward: str
    community_area: str
    latitude: float
    longitude: float
    latitude_spread: float
    longitude_spread: float


@dataclass(frozen=True)
class Calibration:
    """Empirical distributions to generate realistic rows from."""

    offenses: tuple[Offense, ...]
    offense_cum_weights: tuple[float, ...]
    type_shares: dict[str, float]
    places: tuple[str | None, ...]
    place_cum_weights: tuple[float, ...]
    places_by_type: dict[str, tuple[tuple[str | None, ...], tuple[float, ...]]]
    missing_coordinates_by_type: dict[str, float]
    areas: tuple[Area, ...]
    area_cum_weights: tuple[float, ...]
    blocks_by_beat: dict[str, tuple[str, ...]]
    hour_cum_weights: tuple[float, ...]
    minute_cum_weights: tuple[float, ...]
    placeholder_date_share: float
    load_seconds_of_day: tuple[int, int]
    x_fit: tuple[float, float, float]
    y_fit: tuple[float, float, float]
    duplicate_case_number_share: float
    latitude_bounds: tuple[float, float]
    longitude_bounds: tuple[float, float]

    def offenses_of_type(self, primary_type: str) -> list[int]:
        """Indexes of the offenses of one primary type, most common first."""
        return [i for i, o in enumerate(self.offenses) if o.primary_type == primary_type]

    def x_coordinate(self, latitude: float, longitude: float) -> int:
        c0, c_lon, c_lat = self.x_fit
        return round(c0 + c_lon * longitude + c_lat * latitude)

    def y_coordinate(self, latitude: float, longitude: float) -> int:
        c0, c_lon, c_lat = self.y_fit
        return round(c0 + c_lon * longitude + c_lat * latitude)

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> Calibration:
        offenses = tuple(
            Offense(iucr, ptype, desc, fbi, float(arrest), float(domestic))
            for iucr, ptype, desc, fbi, _w, arrest, domestic in table["offenses"]
        )
        places = [(p, float(w)) for p, w in table["location_descriptions"]]
        by_type = {
            t: (tuple(p for p, _ in rows), tuple(accumulate(float(w) for _, w in rows)))
            for t, rows in table["location_descriptions_by_type"].items()
        }
        areas = tuple(
            Area(beat, district, ward, ca, float(lat), float(lon), float(lat_sd), float(lon_sd))
            for beat, district, ward, ca, _w, lat, lon, lat_sd, lon_sd in table["areas"]
        )
        x_fit = table["xy_from_lonlat"]["x"]
        y_fit = table["xy_from_lonlat"]["y"]
        lat_bounds = table["bounds"]["latitude"]
        lon_bounds = table["bounds"]["longitude"]
        return cls(
            offenses=offenses,
            offense_cum_weights=tuple(accumulate(float(row[4]) for row in table["offenses"])),
            type_shares={t: float(s) for t, s in table["type_shares"].items()},
            places=tuple(p for p, _ in places),
            place_cum_weights=tuple(accumulate(w for _, w in places)),
            places_by_type=by_type,
            missing_coordinates_by_type={t: float(p) for t, p in table["missing_coordinates_by_type"].items()},
            areas=areas,
            area_cum_weights=tuple(accumulate(float(row[4]) for row in table["areas"])),
            blocks_by_beat={b: tuple(v) for b, v in table["blocks_by_beat"].items()},
            hour_cum_weights=tuple(accumulate(float(w) for w in table["hour_weights"])),
            minute_cum_weights=tuple(accumulate(float(w) for w in table["minute_weights"])),
            placeholder_date_share=float(table["placeholder_date_share"]),
            load_seconds_of_day=(int(table["load_seconds_of_day"][0]), int(table["load_seconds_of_day"][1])),
            x_fit=(float(x_fit[0]), float(x_fit[1]), float(x_fit[2])),
            y_fit=(float(y_fit[0]), float(y_fit[1]), float(y_fit[2])),
            duplicate_case_number_share=float(table["duplicate_case_number_share"]),
            latitude_bounds=(float(lat_bounds[0]), float(lat_bounds[1])),
            longitude_bounds=(float(lon_bounds[0]), float(lon_bounds[1])),
        )


@lru_cache(maxsize=1)
def load_calibration() -> Calibration:
    """The calibration table shipped with the package."""
    text = resources.files("emulator").joinpath("calibration.json").read_text(encoding="utf-8")
    return Calibration.from_table(json.loads(text))
