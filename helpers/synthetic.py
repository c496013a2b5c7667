"""Procedural data sets: street scenes in the Playing for Data (GTA5) format, aerial forest patches.

Street scenes are seen from the bonnet of a car that drives forward through a city, a suburb,
the countryside or along a highway. A simple pinhole camera projects a world of boxes, planes
and billboards onto the image; everything is painted far to near with OpenCV polygons, into
the image and into the label at once, so labels match the pixels exactly. The world of one
sequence is built lazily in chunks of road from seeds alone, so any frame can be rendered on
its own: `render_street_frame(seed, sequence, step)`.

Forest patches are aerial views of canopy, fields, roads, buildings and water, with a binary
forest mask, in the layout of the Kaggle "Forest Aerial Images for Segmentation" data set.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from .classes import LABEL_ID, cityscapes_palette
from .config import is_quiet
from .files import remove_leftovers, staging_folder

SCENES = ("city", "suburb", "countryside", "highway")
WEATHERS = ("clear", "rain", "fog")
DEFECT_KINDS = ("misaligned", "swapped", "size_mismatch", "empty_label", "truncated")
META_COLUMNS = ["frame", "sequence", "scene", "weather", "defect"]
FOREST_FOLDER = "Forest Segmented"
STREETS_LAYOUT = {"images": ".png", "labels": ".png", "meta.csv": "file"}
FOREST_LAYOUT = {FOREST_FOLDER: {"images": ".jpg", "masks": ".jpg", "meta_data.csv": "file"}}

# Cityscapes labelIds used by the painter.
EGO, GROUND, ROAD, SIDEWALK, RAIL_TRACK = (LABEL_ID[n] for n in
                                           ("ego vehicle", "ground", "road", "sidewalk", "rail track"))
BUILDING, WALL, FENCE, GUARD_RAIL, POLE = (LABEL_ID[n] for n in
                                           ("building", "wall", "fence", "guard rail", "pole"))
TRAFFIC_LIGHT, TRAFFIC_SIGN, VEGETATION, TERRAIN, SKY = (LABEL_ID[n] for n in (
    "traffic light", "traffic sign", "vegetation", "terrain", "sky"))
PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE = (LABEL_ID[n] for n in (
    "person", "rider", "car", "truck", "bus", "train", "motorcycle"))
VEHICLE_LABEL = {"car": CAR, "truck": TRUCK, "bus": BUS, "tram": TRAIN, "train": TRAIN,
                 "moto": MOTORCYCLE}

CAMERA_HEIGHT = 1.4  # metres above the road
Z_CLIP = 1.0  # nearest depth that is projected (metres)
Z_OBJECTS = 130.0  # objects farther than this are not drawn
CHUNK = 50.0  # the world is generated in chunks of road this long (metres)
FAR = 1.0e4  # depth of the sky
GROUND_Z = 2.0 * (200.0 / 2.0) ** (np.arange(26) / 25.0)  # depths sampled along ground bands

_STOP_CROSSING = 12.0  # width of the cross street where the camera waits at a red light
SCENE_SPEED = {"city": 1.0, "suburb": 1.2, "countryside": 1.6, "highway": 2.4}  # metres per frame

Colour = tuple[float, float, float]


# ----------------------------------------------------------------------------------------------
# camera and canvas


@dataclass(frozen=True)
class _Camera:
    """Pinhole camera at CAMERA_HEIGHT looking along +z; x to the right, y up, metres."""

    width: int
    height: int
    focal: float  # pixels per metre at 1 m
    horizon: float  # image row of the horizon
    curve: float  # the road bends: a point at depth z is shifted by curve·z² metres

    def project(self, points: np.ndarray) -> np.ndarray:
        """N×3 world points → N×2 pixel coordinates (u right, v down)."""
        z = np.maximum(points[:, 2], Z_CLIP)
        scale = self.focal / z
        pixels = np.empty((len(points), 2))
        if self.curve:
            pixels[:, 0] = self.width / 2 + (points[:, 0] + self.curve * z * z) * scale
        else:
            pixels[:, 0] = self.width / 2 + points[:, 0] * scale
        pixels[:, 1] = self.horizon + (CAMERA_HEIGHT - points[:, 1]) * scale
        return pixels

    def point(self, x: float, y: float, z: float) -> tuple[float, float]:
        """One world point → (u, v)."""
        z = max(z, Z_CLIP)
        return (self.width / 2 + self.focal * (x + self.curve * z * z) / z,
                self.horizon + self.focal * (CAMERA_HEIGHT - y) / z)


class _Canvas:
    """Image, label and (for fog) depth, painted together polygon by polygon."""

    def __init__(self, camera: _Camera, with_depth: bool):
        height, width = camera.height, camera.width
        self.camera = camera
        self.image = np.zeros((height, width, 3), np.uint8)
        self.label = np.zeros((height, width), np.uint8)
        self.depth = None
        if with_depth:
            rows = np.arange(height, dtype=np.float32) + 0.5 - camera.horizon
            ground = np.where(rows > 0.5, camera.focal * CAMERA_HEIGHT / np.maximum(rows, 0.5), FAR)
            self.depth = np.repeat(ground.astype(np.float32)[:, None], width, axis=1)

    def fill(self, polygons, colour: Colour, label: int | None, depth: float | None = None) -> None:
        """Fill non-overlapping polygons (an n×k×2 array or a list of k×2 arrays, pixels) in one colour and label."""
        if isinstance(polygons, np.ndarray):
            points = (polygons * 16).astype(np.int32)  # 4 fractional bits: sub-pixel edges
        else:
            points = [(p * 16).astype(np.int32) for p in polygons]
        cv2.fillPoly(self.image, points, colour, shift=4)
        if label is not None:
            cv2.fillPoly(self.label, points, int(label), shift=4)
        if depth is not None and self.depth is not None:
            cv2.fillPoly(self.depth, points, float(depth), shift=4)

    def line(self, points: np.ndarray, colour: Colour, label: int | None, thickness: int) -> None:
        """A polyline (N×2 pixels), e.g. a pantograph or a wire."""
        pts = [np.rint(points).astype(np.int32)]
        cv2.polylines(self.image, pts, False, colour, max(1, thickness))
        if label is not None:
            cv2.polylines(self.label, pts, False, int(label), max(1, thickness))


class _Face:
    """A planar rectangle of a box: origin + u·axis_u + v·axis_v, u in [0, size_u] metres."""

    __slots__ = ("name", "origin", "axis_u", "axis_v", "size_u", "size_v")

    def __init__(self, name: str, origin, axis_u, axis_v, size_u: float, size_v: float):
        self.name = name  # "z0" (faces the camera), "x0" / "x1" (sides), "top"
        self.origin, self.axis_u, self.axis_v = tuple(origin), tuple(axis_u), tuple(axis_v)
        self.size_u, self.size_v = size_u, size_v

    def polygons(self, camera: _Camera, rects) -> np.ndarray:
        """Rectangles n×4 (u0, u1, v0, v1) in metres on this face → n×4×2 pixel quads."""
        if isinstance(rects, (list, tuple)) and len(rects) <= 4:  # few: plain Python is faster
            (ox, oy, oz), (ux, uy, uz), (vx, vy, vz) = self.origin, self.axis_u, self.axis_v
            point = camera.point
            return np.array([[point(ox + u * ux + v * vx, oy + u * uy + v * vy, oz + u * uz + v * vz)
                              for u, v in ((u0, v0), (u1, v0), (u1, v1), (u0, v1))] for u0, u1, v0, v1 in rects])
        rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        us = rects[:, [0, 1, 1, 0]].reshape(-1, 1)
        vs = rects[:, [2, 2, 3, 3]].reshape(-1, 1)
        points = np.asarray(self.origin) + us * np.asarray(self.axis_u) + vs * np.asarray(self.axis_v)
        return camera.project(points).reshape(-1, 4, 2)

    def ellipse(self, camera: _Camera, u: float, v: float, radius: float) -> np.ndarray:
        """A circle of `radius` metres centred at (u, v) on this face, as a pixel polygon."""
        points = (np.asarray(self.origin) + (u + radius * _UNIT_CIRCLE[:, 0:1]) * np.asarray(self.axis_u)
                  + (v + radius * _UNIT_CIRCLE[:, 1:2]) * np.asarray(self.axis_v))
        return camera.project(points)


_UNIT_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 14, endpoint=False)),
                         np.sin(np.linspace(0, 2 * np.pi, 14, endpoint=False))], axis=1)


def _shade(colour: Colour, factor: float) -> Colour:
    return (min(255.0, colour[0] * factor), min(255.0, colour[1] * factor), min(255.0, colour[2] * factor))


def _box(canvas: _Canvas, look: _Look, x0: float, x1: float, y0: float, y1: float, z0: float,
         z1: float, colour: Colour, label: int) -> list[_Face]:
    """Paint the visible faces of an axis-aligned box, lit by the sequence's sun; return them."""
    camera = canvas.camera
    if z1 <= Z_CLIP:
        return []
    faces = [_Face("z0", (x0, y0, z0), (1, 0, 0), (0, 1, 0), x1 - x0, y1 - y0)]
    shift = camera.curve * max(z0, Z_CLIP) ** 2
    if x0 + shift > 0:
        faces.append(_Face("x0", (x0, y0, z0), (0, 0, 1), (0, 1, 0), z1 - z0, y1 - y0))
    elif x1 + shift < 0:
        faces.append(_Face("x1", (x1, y0, z0), (0, 0, 1), (0, 1, 0), z1 - z0, y1 - y0))
    if y1 < CAMERA_HEIGHT - 0.05:
        faces.append(_Face("top", (x0, y1, z0), (1, 0, 0), (0, 0, 1), x1 - x0, z1 - z0))
    depth = max(z0, Z_CLIP)
    for face in faces:
        canvas.fill(face.polygons(camera, [(0, face.size_u, 0, face.size_v)]), _shade(colour, look.face_light[face.name]), label, depth)
    return faces


class _Billboard:
    """A flat figure facing the camera, standing at (x, y, z); parts given in metres."""

    def __init__(self, camera: _Camera, x: float, y: float, z: float):
        self.u, self.v = camera.point(x, y, z)
        self.scale = camera.focal / max(z, Z_CLIP)

    def polygon(self, metres) -> np.ndarray:
        u, v, scale = self.u, self.v, self.scale
        return np.array([(u + scale * x, v - scale * y) for x, y in metres])

    def circle(self, x: float, y: float, radius: float) -> np.ndarray:
        return self.scale * radius * _UNIT_CIRCLE * (1.0, -1.0) + (self.u + self.scale * x, self.v - self.scale * y)

    def rect(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        return self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


# ----------------------------------------------------------------------------------------------
# per-sequence set-up: scene layout, look and lighting


@dataclass(frozen=True)
class _Lane:
    x: float  # centre, metres right of the camera
    speed: float  # metres per frame along +z (negative: oncoming)
    kinds: tuple[tuple[str, float], ...]  # vehicle kinds and their weights
    gap: tuple[float, float]  # free metres between two vehicles
    lead: float = 0.0  # lane of the camera: probability of a vehicle right ahead (no one behind)
    first: tuple[str, float] | None = None  # (kind, probability) of a vehicle next to the camera at the start
    oncoming: bool = False  # set from the sign of `speed` before any lane is stopped


@dataclass(frozen=True)
class _Band:
    x0: float
    x1: float
    label: int
    colour: Colour
    y: float = 0.0


@dataclass(frozen=True)
class _Side:
    sign: int  # +1 right, -1 left
    edge: float  # x of the road edge
    sidewalk: float  # width of the sidewalk (0: none)
    verge: float  # width of grass beyond it
    backdrop: str  # "buildings", "houses", "forest", "field", "noise_wall"
    pedestrians: float  # per metre of sidewalk
    trees: float  # per metre
    lamps: float
    fence: str  # "", "wood", "picket", "wire", "hedge", "guard_rail"

    def x(self, outward: float) -> float:
        """x of a point `outward` metres beyond the road edge."""
        return self.edge + self.sign * outward


@dataclass(frozen=True)
class _Look:
    sky_top: Colour
    sky_horizon: Colour
    gain: tuple[float, float, float]  # exposure and white balance
    face_light: dict  # face name → brightness factor (sun direction)
    sun_side: int  # +1: sun on the right (shadows fall to the left)
    shadow: float  # brightness inside shadows
    road: Colour
    sidewalk: Colour
    curb: Colour
    terrain: Colour
    vegetation: Colour
    marking: Colour
    centre_marking: Colour
    ego: Colour
    fog: Colour
    visibility: float  # metres (fog)
    texture: float  # texture strength


@dataclass(frozen=True)
class _Setup:
    seed: int
    sequence: int
    scene: str
    camera: _Camera
    speed: float
    lanes: tuple[_Lane, ...]
    road: tuple[float, float]
    bands: tuple[_Band, ...]
    curbs: tuple[float, ...]
    markings: tuple[tuple[float, str, bool], ...]  # x, "dash"|"solid"|"double", centre line?
    rails: tuple[float, ...]  # tram tracks in the road (centres)
    sides: tuple[_Side, _Side]
    railway: float | None  # centre of a separate railway beside the road
    crossing_rate: float
    look: _Look
    far: str  # far background: "skyline", "hills", "treeline"
    parking: tuple[float, ...]  # centres of parking strips along the curbs
    stop: float | None  # waiting at a red light: depth of the cross street ahead (None: driving)


def scene_for_sequence(seed: int, sequence: int) -> str:
    """Scene type of a sequence: every block of 4 sequences holds each type once, in seeded order."""
    order = np.random.default_rng([seed, 3, sequence // 4]).permutation(len(SCENES))
    return SCENES[int(order[sequence % 4])]


def _pick(rng: np.random.Generator, options, weights=None):
    weights = np.ones(len(options)) if weights is None else np.asarray(weights, dtype=float)
    return options[int(rng.choice(len(options), p=weights / weights.sum()))]


def _vary(rng: np.random.Generator, colour, spread: float = 12.0, brightness: float = 0.12) -> Colour:
    """A colour jittered in brightness and hue."""
    factor = 1.0 + rng.uniform(-brightness, brightness)
    c = np.clip(np.asarray(colour, float) * factor + rng.normal(0.0, spread, 3), 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))


def _make_look(rng: np.random.Generator, scene: str) -> _Look:
    overcast = rng.random() < 0.3
    if overcast:
        sky_top, sky_horizon = _vary(rng, (150, 155, 165), 8), _vary(rng, (200, 202, 205), 6)
    else:
        sky_top, sky_horizon = _vary(rng, (60, 120, 200), 15), _vary(rng, (175, 205, 230), 10)
    warm = rng.uniform(-0.03, 0.03)
    exposure = rng.uniform(0.9, 1.08)
    gain = (exposure * (1 + warm), exposure, exposure * (1 - warm))
    sun_side = int(rng.choice([-1, 1]))
    strong = 0.25 if overcast else rng.uniform(0.45, 0.7)
    face_light = {"z0": 1.0 - 0.5 * strong * rng.uniform(0.2, 0.8), "top": 1.12,
                  "x0": 1.0 + 0.15 * strong if sun_side < 0 else 1.0 - 0.6 * strong,
                  "x1": 1.0 + 0.15 * strong if sun_side > 0 else 1.0 - 0.6 * strong}
    asphalt = rng.uniform(72, 118)
    tint = rng.normal(0, 4, 3)
    road = tuple(float(v) for v in np.clip(asphalt + tint + np.array([0, 0, 3]), 0, 255))
    paving = _pick(rng, [(175, 172, 165), (190, 185, 175), (172, 162, 152), (185, 165, 150), (165, 165, 168)])
    grass = _pick(rng, [(95, 135, 60), (120, 145, 70), (150, 150, 85), (85, 120, 55), (135, 125, 80)])
    return _Look(
        sky_top=sky_top, sky_horizon=sky_horizon, gain=gain, face_light=face_light, sun_side=sun_side,
        shadow=1.0 - strong * 0.75, road=road, sidewalk=_vary(rng, paving, 6),
        curb=_vary(rng, (190, 188, 182), 6), terrain=_vary(rng, grass, 8),
        vegetation=_vary(rng, (55, 85, 40), 6), marking=_vary(rng, (225, 225, 218), 5, 0.05),
        centre_marking=(215.0, 180.0, 60.0) if rng.random() < 0.35 else _vary(rng, (225, 225, 218), 5, 0.05),
        ego=_vary(rng, _pick(rng, _CAR_COLOURS), 10), fog=_vary(rng, (200, 203, 206), 5, 0.05),
        visibility=rng.uniform(18, 40), texture=rng.uniform(0.8, 1.25))


def _layout(rng: np.random.Generator, scene: str, look: _Look):
    """Lanes, road edges and roadside sides of one sequence."""
    car, truck, bus, moto = "car", "truck", "bus", "moto"
    rails: tuple[float, ...] = ()
    railway = None
    parking: tuple[float, ...] = ()
    if scene == "city":
        tram = rng.random() < 0.75
        rightmost = rng.random() < 0.6
        lanes = [_Lane(0.0, 1.00, ((car, 3), (bus, 2.0), (truck, 1.0), (moto, 3.9)), (3, 7), lead=0.92),
                 _Lane(-3.3, 1.13, ((car, 3), (bus, 1.2), (truck, 0.6), (moto, 2.7)) + ((("tram", 3),) if tram else ()),
                       (4, 11), first=("tram", 0.7) if tram else ("bus", 0.35)),
                 _Lane(-6.6, -0.91, ((car, 4), (bus, 1.5), (truck, 0.7), (moto, 2.2)) + ((("tram", 2),) if tram else ()),
                       (4, 15))]
        park_left = rng.random() < 0.5
        right, left = (1.65 if rightmost else 4.95), (-10.55 if park_left else -8.25)
        parking = (() if rightmost else (3.3,)) + ((-9.4,) if park_left else ())
        rails = (-3.3, -6.6) if tram else ()
        sidewalk = rng.uniform(3.0, 4.5)
        sides = (_Side(1, right, sidewalk, 0.0, "buildings", 0.26, 0.05 * rng.integers(0, 3), 1 / 28, ""),
                 _Side(-1, left, sidewalk, 0.0, "buildings", 0.16, 0.05 * rng.integers(0, 3), 1 / 28, ""))
        crossing_rate, far = 0.55, "skyline"
    elif scene == "suburb":
        tram = rng.random() < 0.5
        lanes = [_Lane(0.0, 1.20, ((car, 3), (bus, 1.6), (truck, 0.8), (moto, 3.9)) + ((("tram", 2.5),) if tram else ()),
                       (4, 10), lead=0.88),
                 _Lane(-3.2, -1.03, ((car, 4), (bus, 1.2), (truck, 0.7), (moto, 2.1)) + ((("tram", 3),) if tram else ()),
                       (6, 21))]
        right, left = 1.6 + (2.3 if rng.random() < 0.55 else 0.0), -4.8
        parking = (2.75,) if right > 2 else ()
        rails = (0.0, -3.2) if tram else ()
        sides = tuple(_Side(s, e, rng.uniform(1.6, 2.4), rng.uniform(1.0, 3.0), "houses", 0.09, 0.06, 1 / 35,
                            _pick(rng, ["hedge", "picket", "wood", "wire", "hedge"]))
                      for s, e in ((1, right), (-1, left)))
        crossing_rate, far = 0.35, "treeline"
    elif scene == "countryside":
        footpath = rng.random() < 0.5
        lanes = [_Lane(0.0, 1.60, ((car, 4), (truck, 1.6), (bus, 1.2), (moto, 4.5)), (6, 18), lead=0.9),
                 _Lane(-3.3, -1.44, ((car, 4), (truck, 1.5), (bus, 1), (moto, 2.7)), (10, 42))]
        right, left = 1.75, -5.05
        sides = (_Side(1, right, rng.uniform(1.6, 2.2) if footpath else 0.0, rng.uniform(2, 4),
                       _pick(rng, ["forest", "field"]), 0.03 if footpath else 0.008, 0.05, 1 / 45,
                       _pick(rng, ["wire", "wood", "", "guard_rail"])),
                 _Side(-1, left, 0.0, rng.uniform(2, 6), _pick(rng, ["forest", "field"]), 0.004, 0.05, 1 / 45,
                       _pick(rng, ["wire", "wood", ""])))
        if rng.random() < 0.6:
            railway = float(rng.choice([-1, 1]) * rng.uniform(8, 10))
        crossing_rate, far = 0.1, "hills"
    else:  # highway
        lanes = [_Lane(0.0, 2.40, ((car, 4), (truck, 1.8), (bus, 1.6), (moto, 4.5)), (7, 21), lead=0.9),
                 _Lane(3.6, 2.17, ((car, 3), (truck, 2.5), (bus, 1.5), (moto, 2.2)), (7, 28)),
                 _Lane(-3.6, 2.70, ((car, 5), (truck, 0.6), (bus, 1.0), (moto, 3.8)), (10, 31), first=("moto", 0.4)),
                 _Lane(-9.4, -2.40, ((car, 4), (truck, 2), (bus, 1.2), (moto, 2.2)), (14, 42)),
                 _Lane(-13.0, -2.40, ((car, 4), (truck, 1.5), (bus, 1), (moto, 1.5)), (14, 49))]
        right, left = 5.4, -14.8
        sides = (_Side(1, right, 0.0, rng.uniform(4, 8), _pick(rng, ["forest", "field", "noise_wall"]), 0.0,
                       0.03, 0.0, "guard_rail"),
                 _Side(-1, left, 0.0, rng.uniform(4, 8), _pick(rng, ["forest", "field", "noise_wall"]), 0.0,
                       0.03, 0.0, "guard_rail"))
        if rng.random() < 0.45:
            railway = float(rng.choice([-1, 1]) * rng.uniform(15, 20))
        crossing_rate, far = 0.0, _pick(rng, ["hills", "treeline"])
    return tuple(lanes), (left, right), sides, rails, railway, crossing_rate, far, parking


def _ground_bands(scene: str, road, sides, railway, look: _Look) -> tuple[_Band, ...]:
    """Ground strips from the outside in: terrain, sidewalks, road, rail bed."""
    left, right = road
    outer = look.sidewalk if scene == "city" else look.terrain
    bands = [_Band(-400.0, 400.0, SIDEWALK if scene == "city" else TERRAIN, outer)]
    for side in sides:
        if side.verge > 0 or side.backdrop in ("houses", "field", "forest", "noise_wall"):
            a, b = side.x(side.sidewalk), side.x(200.0)
            bands.append(_Band(min(a, b), max(a, b), TERRAIN, look.terrain))
        if side.sidewalk > 0:
            a, b = side.x(0.0), side.x(side.sidewalk if side.backdrop != "buildings" else 200.0)
            bands.append(_Band(min(a, b), max(a, b), SIDEWALK, look.sidewalk, 0.15))
    if railway is not None:
        bands.append(_Band(railway - 2.2, railway + 2.2, RAIL_TRACK, (120.0, 108.0, 96.0), 0.05))
    bands.append(_Band(left, right, ROAD, look.road))
    if scene == "highway":  # median strip between the carriageways
        bands.append(_Band(-7.6, -5.6, TERRAIN, look.terrain))
    return tuple(bands)


@functools.lru_cache(maxsize=64)
def _setup(seed: int, sequence: int, scene: str, size: tuple[int, int]) -> _Setup:
    """Everything fixed for a whole sequence, drawn from the seeds alone."""
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; choose one of {', '.join(SCENES)}")
    width, height = size
    rng = np.random.default_rng([seed, 1, sequence])
    look = _make_look(rng, scene)
    curve = 0.0 if rng.random() < 0.45 else float(rng.uniform(-1, 1) * 6e-4)
    camera = _Camera(width, height, 0.85 * width, height * rng.uniform(0.43, 0.47), curve)
    lanes, road, sides, rails, railway, crossing_rate, far, parking = _layout(rng, scene, look)
    markings = []
    xs = sorted({lane.x for lane in lanes})
    for a, b in zip(xs, xs[1:]):
        if b - a < 5:
            direction_a = next(lane.speed for lane in lanes if lane.x == a)
            direction_b = next(lane.speed for lane in lanes if lane.x == b)
            centre = (direction_a > 0) != (direction_b > 0)
            markings.append(((a + b) / 2, "double" if centre and scene != "countryside" else "dash", centre))
    if scene in ("countryside", "highway"):
        markings += [(road[0] + 0.3, "solid", False), (road[1] - 0.3, "solid", False)]
        if scene == "highway":
            markings += [(-5.4 + 0.3, "solid", False), (-7.6 - 0.3, "solid", False)]
    curbs = tuple(side.edge for side in sides if side.sidewalk > 0)
    bands = _ground_bands(scene, road, sides, railway, look)
    speed = SCENE_SPEED[scene] * rng.uniform(0.85, 1.15)
    lanes = tuple(replace(lane, oncoming=lane.speed < 0) for lane in lanes)
    stop = None
    if scene in ("city", "suburb") and rng.random() < 0.35:
        # waiting at a red light while people cross in front; the traffic beside waits too
        stop = float(rng.uniform(10.5, 13.0))
        lanes = tuple(lane if lane.lead else replace(lane, speed=0.0) for lane in lanes)
        lanes = tuple(replace(lane, speed=speed) if lane.lead else lane for lane in lanes)
        speed = 0.0
    else:  # traffic right ahead drives a little faster than the camera: it never comes closer
        lanes = tuple(replace(lane, speed=speed * 1.03) if lane.lead else lane for lane in lanes)
    return _Setup(seed, sequence, scene, camera, speed, lanes, road, bands, curbs, tuple(markings), rails,
                  sides, railway, crossing_rate, look, far, parking, stop)


# ----------------------------------------------------------------------------------------------
# the world, generated lazily chunk by chunk

_CAR_COLOURS = [(235, 235, 232), (25, 25, 28), (165, 168, 172), (110, 112, 116), (70, 72, 76),
                (160, 25, 25), (30, 55, 125), (20, 35, 70), (40, 90, 60), (190, 175, 140),
                (215, 180, 30), (210, 95, 25), (120, 20, 35), (95, 130, 170)]
_CAR_WEIGHTS = [6, 5, 5, 4, 3, 2, 2, 2, 1, 1, 0.6, 0.6, 1, 1]
# buses and trams each keep their own typical liveries (cars come in all of these colours too)
_LIVERIES = [((235, 235, 230), (30, 80, 170)), ((30, 90, 170), (235, 235, 230)), ((190, 30, 30), (235, 235, 230)),
             ((235, 120, 25), (40, 40, 40)), ((220, 220, 215), (200, 40, 40)), ((40, 60, 120), (200, 200, 205))]
_TRAM_LIVERIES = [((245, 200, 20), (90, 90, 95)), ((235, 225, 200), (0, 125, 95)), ((40, 140, 70), (235, 225, 200)),
                  ((150, 30, 40), (235, 225, 200)), ((0, 130, 140), (235, 235, 230)), ((245, 200, 20), (200, 30, 35))]
_CLOTHES = [(30, 30, 35), (200, 200, 200), (40, 60, 110), (150, 30, 30), (70, 90, 60), (180, 150, 110),
            (90, 90, 95), (220, 180, 40), (30, 110, 150), (120, 60, 120), (230, 120, 140), (235, 235, 230)]
_SKIN = [(235, 200, 170), (200, 155, 120), (150, 100, 70), (95, 65, 45), (225, 185, 150)]
_FACADES = [(170, 165, 155), (200, 190, 170), (150, 80, 65), (120, 115, 110), (215, 210, 200), (185, 160, 120),
            (95, 100, 110), (160, 175, 180), (225, 215, 190), (130, 95, 75)]
_HOUSES = [(235, 232, 225), (220, 205, 170), (175, 190, 205), (230, 215, 150), (160, 85, 65), (200, 195, 185),
           (150, 160, 140)]
_ROOFS = [(90, 60, 50), (70, 72, 78), (140, 70, 50), (50, 50, 55), (110, 100, 90)]


def _make_vehicle(rng: np.random.Generator, kind: str, x: float, heading: str) -> dict:
    """A vehicle's shape and colours (heading "+z", "-z", "+x", "-x")."""
    v = {"kind": "vehicle", "type": kind, "x": x, "heading": heading}
    if kind == "car":
        style = _pick(rng, ["sedan", "hatch", "suv", "van"], [5, 3, 2.5, 0.5])
        length = {"sedan": 4.6, "hatch": 4.0, "suv": 4.7, "van": 5.0}[style] * rng.uniform(0.95, 1.05)
        height = {"sedan": 1.45, "hatch": 1.5, "suv": 1.72, "van": 2.0}[style] * rng.uniform(0.97, 1.03)
        v.update(style=style, length=length, width=rng.uniform(1.75, 1.95), height=height,
                 colour=_vary(rng, _pick(rng, _CAR_COLOURS, _CAR_WEIGHTS), 8))
    elif kind == "truck":
        v.update(length=rng.uniform(6.5, 10.5), width=2.5, height=rng.uniform(3.4, 4.0),
                 colour=_vary(rng, _pick(rng, _CAR_COLOURS + [(240, 240, 240)] * 4), 8),
                 cargo=_vary(rng, _pick(rng, [(235, 235, 232), (200, 200, 200), (150, 150, 150), (60, 90, 150),
                                              (170, 50, 40), (230, 200, 60), (70, 110, 70)]), 8),
                 stripe=_vary(rng, _pick(rng, _CAR_COLOURS), 10), tanker=bool(rng.random() < 0.15))
    elif kind == "bus":
        body, stripe = _pick(rng, _LIVERIES)
        v.update(length=rng.uniform(10.5, 13.0), width=2.55, height=rng.uniform(3.0, 3.3),
                 colour=_vary(rng, body, 10), stripe=_vary(rng, stripe, 10))
    elif kind == "tram":
        body, stripe = _pick(rng, _TRAM_LIVERIES)
        segments = int(rng.integers(3, 6))
        v.update(length=segments * 7.6, segments=segments, width=2.4, height=3.35,
                 colour=_vary(rng, body, 8), stripe=_vary(rng, stripe, 8))
    elif kind == "train":
        body, stripe = _pick(rng, _TRAM_LIVERIES)
        segments = int(rng.integers(3, 7))
        v.update(length=segments * 20.5, segments=segments, width=2.9, height=4.1,
                 colour=_vary(rng, body, 8), stripe=_vary(rng, stripe, 8))
    else:  # motorcycle with rider
        v.update(length=2.2, width=0.9, height=1.25, cases=bool(rng.random() < 0.6),
                 colour=_vary(rng, _pick(rng, [(20, 20, 22), (170, 20, 20), (30, 60, 150), (230, 110, 20),
                                               (225, 225, 225), (150, 150, 155), (30, 110, 60)]), 10),
                 rider=_make_person(rng, rider=True))
    return v


def _make_person(rng: np.random.Generator, rider: bool = False) -> dict:
    return {"kind": "person", "height": rng.uniform(1.55, 1.92),
            "shirt": _vary(rng, _pick(rng, _CLOTHES), 15), "pants": _vary(rng, _pick(rng, _CLOTHES[:7]), 10),
            "skin": _vary(rng, _pick(rng, _SKIN), 8), "hair": _vary(rng, _pick(rng, [(30, 25, 20), (90, 60, 35),
                                                                                       (200, 170, 110), (60, 60, 60)]), 8),
            "helmet": _vary(rng, _pick(rng, _CAR_COLOURS), 10) if rider else None,
            "coat": bool(rng.random() < 0.3), "bag": bool(rng.random() < 0.25),
            "phase": rng.uniform(0, 2 * np.pi), "label": RIDER if rider else PERSON}


def _lane_heading(lane: _Lane) -> str:
    return "-z" if lane.oncoming else "+z"


@functools.lru_cache(maxsize=1024)
def _lane_chunk(seed: int, sequence: int, scene: str, size: tuple[int, int], lane_index: int,
                chunk: int) -> tuple[dict, ...]:
    """Vehicles of one lane whose start position (at step 0) lies in this chunk of road."""
    setup = _setup(seed, sequence, scene, size)
    lane = setup.lanes[lane_index]
    rng = np.random.default_rng([seed, 21, sequence, lane_index, chunk + 100_000])
    start, end = chunk * CHUNK, (chunk + 1) * CHUNK
    first = None
    if lane.lead:
        if chunk < 0:
            return ()
        if chunk == 0:
            start = rng.uniform(8.0, 16.0) if rng.random() < lane.lead else rng.uniform(40, 60)
            if setup.stop is not None:  # the camera waits first in line: traffic ahead is beyond the crossing
                start = setup.stop + _STOP_CROSSING + rng.uniform(1, 10)
    elif chunk == 0 and lane.first is not None and rng.random() < lane.first[1]:
        first, start = lane.first[0], rng.uniform(-8.0, 12.0)
    z = start + (0.0 if (lane.lead or first) and chunk == 0 else rng.uniform(0, lane.gap[1]))
    kinds, weights = zip(*lane.kinds)
    vehicles = []
    while True:
        kind = first or _pick(rng, kinds, weights)
        first = None
        vehicle = _make_vehicle(rng, kind, lane.x + rng.normal(0, 0.15), _lane_heading(lane))
        if z + vehicle["length"] > end:
            break
        group = [vehicle]
        while kind == "moto" and rng.random() < 0.45:  # motorcyclists ride in groups
            group.append(_make_vehicle(rng, "moto", lane.x + rng.uniform(-0.7, 0.7), _lane_heading(lane)))
        for member in group:
            blocked = (setup.stop is not None and not lane.lead and z < setup.stop + _STOP_CROSSING + 1
                       and z + member["length"] > setup.stop - 5.5)  # keep the crosswalk free
            if not blocked and z + member["length"] <= end:
                member.update(z=z, vz=lane.speed)
                vehicles.append(member)
            z += member["length"] + rng.uniform(1.0, 3.0)
        z += rng.uniform(*lane.gap)
    return tuple(vehicles)


@functools.lru_cache(maxsize=1024)
def _railway_chunk(seed: int, sequence: int, scene: str, size: tuple[int, int], chunk: int) -> tuple[dict, ...]:
    """At most one train per 200 m of railway beside the road, by start position (at step 0)."""
    setup = _setup(seed, sequence, scene, size)
    rng = np.random.default_rng([seed, 22, sequence, chunk + 100_000])
    if setup.railway is None or rng.random() < 0.25:
        return ()
    train = _make_vehicle(rng, "train", setup.railway, "+z")
    oncoming = rng.random() < 0.4
    speed = -1.8 if oncoming else setup.speed * rng.uniform(1.05, 1.35)
    train.update(z=chunk * CHUNK * 4 + rng.uniform(0, 60), vz=speed,
                 heading="-z" if oncoming else "+z")
    return (train,)


def _side_things(setup: _Setup, rng: np.random.Generator, side: _Side, start: float, end: float,
                 crossing: tuple[float, float] | None) -> list[dict]:
    """Static things of one side of the road in [start, end): backdrop, trees, poles, people, fences."""
    things: list[dict] = []
    look, scene = setup.look, setup.scene

    def free(z0: float, z1: float) -> bool:
        return crossing is None or z1 < crossing[0] - 1 or z0 > crossing[1] + 1

    # backdrop: rows of buildings, houses, forest, noise walls
    z = start
    while z < end:
        if side.backdrop == "buildings":
            length = rng.uniform(8, 26)
            if free(z, z + length):
                things.append({"kind": "building", "layer": 0, "x": side.x(side.sidewalk + rng.uniform(0, 1.2)),
                               "z": z, "length": min(length, end - z), "side": side.sign,
                               "height": rng.uniform(8, 30), "colour": _vary(rng, _pick(rng, _FACADES), 10),
                               "glass": _vary(rng, (55, 70, 85), 12), "floor": rng.uniform(2.9, 3.5),
                               "bay": rng.uniform(2.0, 3.2), "shop": _vary(rng, _pick(rng, _CAR_COLOURS), 15),
                               "depth": 15.0})
            z += length
        elif side.backdrop == "houses":
            length = rng.uniform(8, 13)
            if free(z, z + length) and z + length <= end:
                things.append({"kind": "house", "layer": 0, "x": side.x(side.sidewalk + side.verge + rng.uniform(3, 7)),
                               "z": z, "length": length, "side": side.sign, "height": rng.uniform(4.5, 6.8),
                               "roof_height": rng.uniform(1.8, 3.5), "colour": _vary(rng, _pick(rng, _HOUSES), 8),
                               "roof": _vary(rng, _pick(rng, _ROOFS), 8), "glass": _vary(rng, (50, 60, 75), 10),
                               "depth": rng.uniform(8, 11)})
            z += length + rng.uniform(3, 9)
        elif side.backdrop in ("forest", "noise_wall"):
            length = rng.uniform(15, 30)
            gap = side.backdrop == "forest" and rng.random() < 0.2
            if not gap and free(z, z + length):
                things.append({"kind": side.backdrop, "layer": 0, "x": side.x(side.sidewalk + side.verge + rng.uniform(0, 3)),
                               "z": z, "length": min(length, end - z), "side": side.sign,
                               "heights": rng.uniform(7, 16, 8) if side.backdrop == "forest" else rng.uniform(3, 4.5, 1),
                               "colour": _vary(rng, look.vegetation if side.backdrop == "forest" else (150, 150, 145), 10)})
            z += length
        else:  # field: open land with a tree now and then
            z = end
    # trees, lamps, signs, fences, pedestrians
    for kind, rate in (("tree", side.trees), ("lamp", side.lamps)):
        if rate <= 0:
            continue
        for z in np.sort(rng.uniform(start, end, rng.poisson(rate * CHUNK))):
            if not free(z - 2, z + 2):
                continue
            if kind == "tree":
                outward = 0.9 if side.sidewalk > 0 and scene == "city" else side.sidewalk + rng.uniform(0.5, max(side.verge, 1.0))
                things.append(_make_tree(rng, side.x(outward), z, look, conifer=scene == "countryside" and rng.random() < 0.4))
            else:
                things.append({"kind": "lamp", "x": side.x(0.4), "z": z, "side": side.sign,
                               "height": rng.uniform(6.5, 9.0), "colour": _vary(rng, (95, 98, 100), 12)})
    if side.backdrop == "field":
        for z in rng.uniform(start, end, rng.poisson(0.08 * CHUNK)):
            things.append(_make_tree(rng, side.x(side.verge + rng.uniform(3, 40)), z, look,
                                     conifer=rng.random() < 0.3))
    if scene == "countryside" and side.sign == 1 and setup.railway is None:
        for z in np.arange(start + rng.uniform(0, 40), end, 40.0):
            things.append({"kind": "lamp", "x": side.x(side.verge - 0.5), "z": z, "side": 0,
                           "height": 8.0, "colour": _vary(rng, (105, 85, 65), 10)})
    if rng.random() < 0.6:
        z = rng.uniform(start, end)
        if free(z - 1, z + 1):
            things.append(_make_sign(rng, side.x(0.3 if side.sidewalk else 0.8), z))
    if side.fence:
        offset = side.sidewalk + (0.2 if side.fence != "guard_rail" else 0.6 if scene != "highway" else 2.5)
        z = start
        while z < end:
            length = min(6.0, end - z)
            if free(z, z + length):
                things.append({"kind": side.fence if side.fence in ("hedge", "guard_rail") else "fence",
                               "style": side.fence, "x": side.x(offset), "z": z, "length": length,
                               "colour": _vary(rng, {"hedge": look.vegetation, "guard_rail": (175, 178, 180),
                                                     "wood": (120, 90, 60), "picket": (225, 222, 215),
                                                     "wire": (110, 112, 108)}[side.fence], 6)})
            z += length
    if side.sidewalk > 0 or side.pedestrians > 0:
        width = max(side.sidewalk, 1.2)
        count = rng.poisson(side.pedestrians * CHUNK)
        for _ in range(count):
            z = rng.uniform(start, end)
            person = _make_person(rng)
            near_curb = rng.random() < 0.6
            outward = rng.uniform(0.4, 1.4) if near_curb else rng.uniform(0.4, width - 0.3)
            walking = rng.random() < 0.75
            person.update(x=side.x(outward), z=z, vz=(rng.choice([-1, 1]) * rng.uniform(0.05, 0.09)) if walking else 0.0,
                          walking=walking, y=0.15 if side.sidewalk > 0 else 0.0)
            things.append(person)
            if rng.random() < 0.3:  # someone walking along
                friend = _make_person(rng)
                friend.update(x=person["x"] + side.sign * 0.6, z=z + rng.uniform(-0.4, 0.4), vz=person["vz"],
                              walking=walking, y=person["y"])
                things.append(friend)
    return things


def _make_tree(rng: np.random.Generator, x: float, z: float, look: _Look, conifer: bool = False) -> dict:
    radius = rng.uniform(1.6, 3.2)
    return {"kind": "tree", "x": x, "z": z, "conifer": conifer, "trunk": rng.uniform(1.8, 3.2),
            "radius": radius, "trunk_colour": _vary(rng, (80, 65, 50), 10),
            "blobs": [(rng.uniform(-0.6, 0.6) * radius, rng.uniform(-0.4, 0.7) * radius, rng.uniform(0.45, 0.75) * radius,
                       _vary(rng, look.vegetation, 10, 0.3)) for _ in range(int(rng.integers(4, 7)))]}


def _make_sign(rng: np.random.Generator, x: float, z: float) -> dict:
    shape = _pick(rng, ["circle", "triangle", "square", "rect"])
    face = {"circle": _pick(rng, [(200, 30, 30), (30, 80, 170)]), "triangle": (200, 30, 30),
            "square": _pick(rng, [(30, 80, 170), (230, 190, 20)]), "rect": _pick(rng, [(30, 80, 170), (30, 120, 60)])}[shape]
    return {"kind": "sign", "x": x, "z": z, "shape": shape, "face": _vary(rng, face, 8),
            "height": rng.uniform(2.1, 2.7), "colour": _vary(rng, (140, 142, 145), 10)}


@functools.lru_cache(maxsize=1024)
def _static_chunk(seed: int, sequence: int, scene: str, size: tuple[int, int], chunk: int) -> tuple[dict, ...]:
    """Everything that does not drive along a lane, in world metres [chunk·CHUNK, (chunk+1)·CHUNK)."""
    setup = _setup(seed, sequence, scene, size)
    rng = np.random.default_rng([seed, 11, sequence, chunk + 100_000])
    start, end = chunk * CHUNK, (chunk + 1) * CHUNK
    crossing = None
    if rng.random() < setup.crossing_rate:
        z0 = start + rng.uniform(8, CHUNK - 20)
        crossing = (z0, z0 + rng.uniform(10, 14))
    if setup.stop is not None and chunk == 0:
        crossing = (setup.stop, setup.stop + _STOP_CROSSING)
    things: list[dict] = []
    for side in setup.sides:
        things += _side_things(setup, rng, side, start, end, crossing)
    if crossing is not None:
        things += _crossing_things(setup, rng, crossing)
    for parking in setup.parking:  # parked cars and motorcycles along the curbs
        z = start + rng.uniform(0, 8)
        while z < end:
            vehicle = _make_vehicle(rng, _pick(rng, ["car", "moto", "truck"], [6, 2.5, 0.5]), parking, "+z")
            if z + vehicle["length"] > end:
                break
            if (crossing is None or z + vehicle["length"] < crossing[0] - 6 or z > crossing[1] + 1) and rng.random() < 0.8:
                vehicle.update(z=z, vz=0.0, x=parking + rng.normal(0, 0.1))
                if vehicle["type"] == "moto":
                    vehicle["rider"] = None  # parked: nobody on it
                things.append(vehicle)
            z += vehicle["length"] + rng.uniform(0.8, 4.0)
    for _ in range(rng.poisson(1.5)):  # patched asphalt and manholes
        x = rng.uniform(setup.road[0] + 0.5, setup.road[1] - 1.5)
        things.append({"kind": "patch", "layer": -1, "x": x, "z": rng.uniform(start, end),
                       "width": rng.uniform(0.6, 3.0), "length": rng.uniform(0.6, 6.0),
                       "colour": _vary(rng, setup.look.road, 6, 0.25)})
    if scene == "highway" and rng.random() < 0.5:
        things.append({"kind": "gantry", "x": 0.0, "z": rng.uniform(start, end - 2), "left": setup.road[0] + 9.0,
                       "right": setup.road[1] + 1.0, "signs": int(rng.integers(1, 4)),
                       "face": _vary(rng, _pick(rng, [(30, 80, 170), (30, 120, 60)]), 6)})
    if scene == "highway":
        for z in np.arange(start + rng.uniform(0, 35), end, 35.0):
            things.append({"kind": "lamp", "x": -6.6, "z": z, "side": 0, "height": 10.0,
                           "colour": _vary(rng, (150, 152, 155), 8)})
        z = start
        while z < end:
            things.append({"kind": "wall", "x": -6.6, "z": z, "length": min(10.0, end - z), "width": 0.6,
                           "height": 0.9, "colour": _vary(rng, (170, 168, 160), 6)})
            z += 10.0
    if setup.railway is not None:
        for z in np.arange(start + rng.uniform(0, 50), end, 50.0):
            things.append({"kind": "lamp", "x": setup.railway + 2.6 * np.sign(setup.railway), "z": z, "side": 0,
                           "height": 7.0, "colour": _vary(rng, (120, 122, 125), 8)})
    return tuple(things)


def _crossing_things(setup: _Setup, rng: np.random.Generator, crossing: tuple[float, float]) -> list[dict]:
    """A cross street: its road surface, crosswalk, traffic lights, waiting and crossing traffic."""
    z0, z1 = crossing
    left, right = setup.road
    things: list[dict] = [{"kind": "crossing", "layer": -1, "x": 0.0, "z": z0, "length": z1 - z0,
                           "zebra": rng.random() < 0.8, "left": left, "right": right}]
    waiting = setup.stop is not None and abs(z0 - setup.stop) < 0.01
    for x in (right + 0.5, left - 0.5):
        things.append({"kind": "traffic_light", "x": x, "z": z0 - 1.5, "height": 3.0,
                       "state": 0 if waiting else int(rng.integers(0, 3)), "colour": _vary(rng, (60, 62, 64), 8),
                       "arm": x > 0 and rng.random() < 0.5})
    if waiting:  # people cross on the crosswalk in front of the waiting camera
        for _ in range(int(rng.integers(5, 13))):
            person = _make_person(rng)
            person.update(x=rng.uniform(left - 1.0, right + 1.0), z=z0 - rng.uniform(1.3, 3.8), vz=0.0,
                          vx=float(rng.choice([-1, 1]) * rng.uniform(0.05, 0.09)), walking=True, sideways=True)
            things.append(person)
    for x_side, sign in ((right, 1), (left, -1)):
        for _ in range(rng.poisson(2.5 if setup.scene == "city" else 1.0)):  # people waiting at the corner
            person = _make_person(rng)
            person.update(x=x_side + sign * rng.uniform(0.5, 2.5), z=z0 - rng.uniform(1.5, 4.0), vz=0.0,
                          walking=False, y=0.15)
            things.append(person)
    # crossing traffic clears the main road before the camera is 22 m from the crossing
    kinds = ("car", "car", "car", "bus", "truck", "moto")
    for lane_z, direction in ((z0 + 2.5, 1), (z1 - 2.5, -1)):
        for _ in range(0 if waiting else int(rng.integers(0, 3))):
            vehicle = _make_vehicle(rng, _pick(rng, kinds), 0.0, "+x" if direction > 0 else "-x")
            speed = rng.uniform(0.3, 0.6)
            step_clear = (lane_z - 22.0) / setup.speed if setup.speed > 0 else 0.0  # a waiting camera never gets near
            x_clear = (right if direction > 0 else left) + direction * (vehicle["length"] / 2 + 1 + rng.uniform(0, 25))
            vehicle.update(x=x_clear - direction * speed * step_clear, vx=direction * speed,
                           z=lane_z - vehicle["width"] / 2, vz=0.0)
            things.append(vehicle)
        if rng.random() < 0.6:  # waiting at the stop line of the cross street
            vehicle = _make_vehicle(rng, _pick(rng, kinds), 0.0, "-x" if direction > 0 else "+x")
            edge = right if direction > 0 else left
            vehicle.update(x=edge + direction * (vehicle["length"] / 2 + 1.5), z=lane_z + direction * 0.2, vz=0.0)
            things.append(vehicle)
    return things


def _things_at(setup: _Setup, step: int, size: tuple[int, int]) -> list[tuple[float, float, dict]]:
    """(depth, x, thing) for everything near enough to be drawn at this step."""
    travelled = setup.speed * step
    key = (setup.seed, setup.sequence, setup.scene, size)
    placed = []

    def add(thing: dict) -> None:
        depth = thing["z"] + thing.get("vz", 0.0) * step - travelled
        extent = thing.get("length", 1.0) if thing.get("heading", "+z")[1] == "z" else thing.get("width", 1.0)
        if depth + extent > Z_CLIP and depth < Z_OBJECTS:
            placed.append((depth, thing["x"] + thing.get("vx", 0.0) * step, thing))

    margin = 0.1 * step + 10.0  # pedestrians walk, parked things stand
    for chunk in range(math.floor((travelled - margin - 30) / CHUNK), math.floor((travelled + Z_OBJECTS + margin) / CHUNK) + 1):
        for thing in _static_chunk(*key, chunk):
            add(thing)
    for lane_index, lane in enumerate(setup.lanes):
        relative = lane.speed - setup.speed
        low, high = -20.0 - relative * step, Z_OBJECTS - relative * step
        for chunk in range(math.floor(low / CHUNK) - 1, math.floor(high / CHUNK) + 1):
            for vehicle in _lane_chunk(*key, lane_index, chunk):
                add(vehicle)
    if setup.railway is not None:
        for chunk in range(-8, 8):
            for train in _railway_chunk(*key, chunk):
                add(train)
    return placed


# ----------------------------------------------------------------------------------------------
# painters


def _draw_sky(canvas: _Canvas, setup: _Setup, rng_static: np.random.Generator) -> None:
    look, camera = setup.look, canvas.camera
    rows = np.clip(np.arange(camera.height) / max(camera.horizon, 1.0), 0, 1)[:, None] ** 0.8
    column = (1 - rows) * np.array(look.sky_top) + rows * np.array(look.sky_horizon)
    canvas.image[:] = column.astype(np.uint8)[:, None, :]
    canvas.label[:] = SKY
    for _ in range(int(rng_static.integers(0, 5))):  # clouds
        u, v = rng_static.uniform(0, camera.width), rng_static.uniform(0.05, 0.6) * camera.horizon
        for _ in range(4):
            r = rng_static.uniform(0.02, 0.06) * camera.width
            centre = np.array([u + rng_static.uniform(-2, 2) * r, v + rng_static.uniform(-0.4, 0.4) * r])
            colour = _vary(rng_static, (235, 237, 240), 6, 0.05)
            canvas.fill([centre + r * _UNIT_CIRCLE * [1.6, 0.6]], colour, SKY)


def _draw_far(canvas: _Canvas, setup: _Setup, rng_static: np.random.Generator) -> None:
    """Far background at the horizon: a skyline, hills or a tree line."""
    camera, look = canvas.camera, setup.look
    width, horizon = camera.width, camera.horizon
    if setup.far == "skyline":
        u = -10.0
        while u < width:
            w = rng_static.uniform(0.03, 0.09) * width
            h = rng_static.uniform(0.05, 0.35) * horizon
            colour = _vary(rng_static, (150, 155, 165), 10)
            canvas.fill([np.array([(u, horizon + 2), (u + w, horizon + 2), (u + w, horizon - h), (u, horizon - h)])],
                        colour, BUILDING, FAR / 2)
            u += w
    else:
        us = np.linspace(-10, width + 10, 24)
        amplitude = 0.08 if setup.far == "treeline" else 0.18
        heights = horizon * (amplitude * (0.5 + rng_static.random(24)) + 0.02)
        heights = np.convolve(heights, np.ones(3) / 3, mode="same") if setup.far == "hills" else heights
        polygon = np.concatenate([np.stack([us, horizon - heights], 1), [(width + 10, horizon + 2), (-10, horizon + 2)]])
        canvas.fill([polygon], _shade(look.vegetation, 1.15 if setup.far == "hills" else 0.95), VEGETATION, FAR / 2)


def _ground_polygon(camera: _Camera, x0: float, x1: float, y: float = 0.0) -> np.ndarray:
    z = GROUND_Z
    left = camera.project(np.stack([np.full_like(z, x0), np.full_like(z, y), z], 1))
    right = camera.project(np.stack([np.full_like(z, x1), np.full_like(z, y), z], 1))
    return np.concatenate([left, right[::-1]])


def _draw_static_ground(canvas: _Canvas, setup: _Setup) -> None:
    """Ground that looks the same in every frame: bands, curbs, tram rails, solid lines."""
    camera, look = canvas.camera, setup.look
    horizon = int(math.ceil(camera.horizon))
    first = setup.bands[0]
    canvas.image[horizon:] = np.array(first.colour, np.uint8)
    canvas.label[horizon:] = first.label
    for band in setup.bands[1:]:
        canvas.fill([_ground_polygon(camera, band.x0, band.x1, band.y)], band.colour, band.label)
    for x in setup.curbs:  # the curb's face, between road and raised sidewalk
        z = GROUND_Z
        bottom = camera.project(np.stack([np.full_like(z, x), np.zeros_like(z), z], 1))
        top = camera.project(np.stack([np.full_like(z, x), np.full_like(z, 0.15), z], 1))
        canvas.fill([np.concatenate([bottom, top[::-1]])], look.curb, SIDEWALK)
    for x in setup.rails:  # tram tracks: two rails in the road, part of the road
        for offset in (-0.72, 0.72):
            canvas.fill([_ground_polygon(camera, x + offset - 0.06, x + offset + 0.06, 0.005)],
                        (150.0, 148.0, 145.0), ROAD)
    for x, kind, centre in setup.markings:
        colour = look.centre_marking if centre else look.marking
        if kind == "solid":
            canvas.fill([_ground_polygon(camera, x - 0.08, x + 0.08, 0.005)], colour, ROAD)
        elif kind == "double":
            for offset in (-0.15, 0.15):
                canvas.fill([_ground_polygon(camera, x + offset - 0.06, x + offset + 0.06, 0.005)], colour, ROAD)


@functools.lru_cache(maxsize=8)
def _background(seed: int, sequence: int, scene: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Sky, far background and static ground of a sequence, painted once: (image, label)."""
    setup = _setup(seed, sequence, scene, size)
    canvas = _Canvas(setup.camera, with_depth=False)
    static_rng = np.random.default_rng([seed, 4, sequence])
    _draw_sky(canvas, setup, static_rng)
    _draw_far(canvas, setup, static_rng)
    _draw_static_ground(canvas, setup)
    canvas.image.flags.writeable = False
    canvas.label.flags.writeable = False
    return canvas.image, canvas.label


def _draw_moving_ground(canvas: _Canvas, setup: _Setup, step: int) -> None:
    """Ground that scrolls as the camera drives: dashed lines and railway sleepers."""
    camera, look = canvas.camera, setup.look
    travelled = setup.speed * step
    if setup.railway is not None:
        sleepers = np.arange(math.floor(travelled / 0.9) * 0.9, travelled + 60, 0.9)
        rects = [(setup.railway - 1.2, setup.railway + 1.2, z - travelled, z - travelled + 0.25) for z in sleepers
                 if z - travelled > 2]
        _ground_rects(canvas, rects, (90.0, 75.0, 60.0), RAIL_TRACK)
        for offset in (-0.72, 0.72):
            canvas.fill([_ground_polygon(camera, setup.railway + offset - 0.05, setup.railway + offset + 0.05, 0.15)],
                        (165.0, 160.0, 155.0), RAIL_TRACK)
    joint = _shade(look.sidewalk, 0.72)
    for side in setup.sides:  # paving slabs: joints across the sidewalk every 1.2 m
        if side.sidewalk > 0:
            x0, x1 = sorted((side.x(0.25), side.x(side.sidewalk)))
            starts = np.arange(math.floor(travelled / 1.2) * 1.2, travelled + 45, 1.2) - travelled
            _ground_rects(canvas, [(x0, x1, z, z + 0.07) for z in starts if z > 2.0], joint, SIDEWALK, 0.155)
    for x, kind, centre in setup.markings:
        if kind == "dash":
            period, dash = (12.0, 4.0) if setup.scene in ("highway", "countryside") else (9.0, 3.0)
            first_dash = math.floor(travelled / period) * period
            starts = np.arange(first_dash, travelled + Z_OBJECTS, period) - travelled
            rects = [(x - 0.08, x + 0.08, z, z + dash) for z in starts if z + dash > 2.0]
            _ground_rects(canvas, rects, look.centre_marking if centre else look.marking, ROAD)


def _ground_rects(canvas: _Canvas, rects, colour: Colour, label: int, y: float = 0.005) -> None:
    """Rectangles (x0, x1, z0, z1) lying on the ground."""
    if not rects:
        return
    rects = np.asarray(rects, dtype=np.float64)
    rects[:, 2:] = np.maximum(rects[:, 2:], 1.5)
    xs = rects[:, [0, 1, 1, 0]].reshape(-1)
    zs = rects[:, [2, 2, 3, 3]].reshape(-1)
    points = canvas.camera.project(np.stack([xs, np.full_like(xs, y), zs], 1)).reshape(-1, 4, 2)
    canvas.fill(list(points), colour, label)


def _draw_ground_thing(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float) -> None:
    if thing["kind"] == "patch":
        _ground_rects(canvas, [(x, x + thing["width"], depth, depth + thing["length"])], thing["colour"], ROAD)
        return
    # a cross street: asphalt across everything, crosswalk, stop line
    length, left, right = thing["length"], thing["left"], thing["right"]
    _ground_rects(canvas, [(-300.0, 300.0, depth, depth + length)], setup.look.road, ROAD)
    marking = setup.look.marking
    if thing["zebra"]:
        stripes = [(x0, x0 + 0.5, depth - 4.0, depth - 1.0) for x0 in np.arange(left + 0.3, right - 0.3, 1.0)]
        _ground_rects(canvas, stripes, marking, ROAD, 0.01)
    _ground_rects(canvas, [(-1.6, 1.6, depth - 5.0, depth - 4.6)], marking, ROAD, 0.01)


def _draw_shadows(canvas: _Canvas, setup: _Setup, placed) -> None:
    """Darken the ground where buildings, vehicles and trees cast shadows."""
    look = setup.look
    shade = np.full(canvas.label.shape, 255, np.uint8)
    dark = int(255 * look.shadow)
    camera = canvas.camera
    polygons = []
    for depth, x, thing in placed:
        kind = thing["kind"]
        if kind == "building" and thing["side"] == look.sun_side:
            reach = min(thing["height"] * 0.5, 16.0)
            x1 = x - look.sun_side * reach
            polygons.append(_ground_quad(camera, min(x, x1), max(x, x1), depth, depth + thing["length"]))
        elif kind == "vehicle":
            half = (thing["width"] if thing["heading"][1] == "z" else thing["length"]) / 2
            extent = thing["length"] if thing["heading"][1] == "z" else thing["width"]
            spread = -look.sun_side * 0.6 * thing["height"] * (1 - look.shadow)
            x0, x1 = x - half - 0.1, x + half + 0.1
            polygons.append(_ground_quad(camera, min(x0, x0 + spread), max(x1, x1 + spread), depth - 0.2, depth + extent + 0.3))
        elif kind == "tree" and depth < 60:
            u, v = camera.point(x - look.sun_side * thing["radius"], 0.0, depth + 0.5)
            scale = camera.focal / max(depth + 0.5, Z_CLIP)
            polygons.append(np.array([u, v]) + scale * thing["radius"] * _UNIT_CIRCLE * [1.0, 0.35])
    for polygon in polygons:
        cv2.fillPoly(shade, [np.rint(polygon).astype(np.int32)], dark)
    if polygons:
        cv2.multiply(canvas.image, cv2.merge([shade, shade, shade]), canvas.image, scale=1 / 255)


def _ground_quad(camera: _Camera, x0: float, x1: float, z0: float, z1: float) -> np.ndarray:
    z0, z1 = max(z0, 1.5), max(z1, 1.5)
    return camera.project(np.array([(x0, 0.0, z0), (x1, 0.0, z0), (x1, 0.0, z1), (x0, 0.0, z1)]))


def _draw_building(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float) -> None:
    camera, look = canvas.camera, setup.look
    sign, height, length = thing["side"], thing["height"], thing["length"]
    x_inner, x_outer = x, x + sign * thing["depth"]
    faces = _box(canvas, look, min(x_inner, x_outer), max(x_inner, x_outer), 0.0, height, depth,
                 depth + length, thing["colour"], BUILDING)
    floor, bay = thing["floor"], thing["bay"]
    if camera.focal * floor / max(depth + length, 1) < 2.5 and camera.focal * floor / max(depth, 1) < 5:
        return
    for face in faces:
        if face.name == "top":
            continue
        light = look.face_light[face.name]
        # ground floor: shop windows and doors
        shop = [(u, u + bay * 0.8, 0.4, min(2.6, floor - 0.5)) for u in np.arange(0.4, face.size_u - bay, bay * 1.5)]
        if shop:
            canvas.fill(face.polygons(camera, shop), _shade(thing["glass"], light * 0.8), BUILDING, depth)
            canvas.fill(face.polygons(camera, [(0.2, face.size_u - 0.2, floor - 0.45, floor - 0.1)]),
                        _shade(thing["shop"], light), BUILDING, depth)  # shop signs above the windows
        columns = np.arange(0.6, face.size_u - 1.4, bay)
        floors = np.arange(floor + 0.8, height - 1.5, floor)
        if len(columns) == 0 or len(floors) == 0:
            continue
        u0, v0 = np.meshgrid(columns, floors)
        rects = np.stack([u0.ravel(), u0.ravel() + bay * 0.55, v0.ravel(), v0.ravel() + floor * 0.5], 1)
        polygons = face.polygons(camera, rects)
        canvas.fill(polygons[0::2], _shade(thing["glass"], light), BUILDING, depth)
        canvas.fill(polygons[1::2], _shade(thing["glass"], light * 1.35), BUILDING, depth)
        canvas.fill(face.polygons(camera, [(0, face.size_u, height - 0.5, height)]),
                    _shade(thing["colour"], light * 0.75), BUILDING, depth)


def _draw_house(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float) -> None:
    camera, look = canvas.camera, setup.look
    sign, height, length, house_depth = thing["side"], thing["height"], thing["length"], thing["depth"]
    x_inner, x_outer = x, x + sign * house_depth
    x0, x1 = min(x_inner, x_outer), max(x_inner, x_outer)
    faces = _box(canvas, look, x0, x1, 0.0, height, depth, depth + length, thing["colour"], BUILDING)
    ridge_x, ridge_y = (x0 + x1) / 2, height + thing["roof_height"]
    eave = x_inner
    roof = camera.project(np.array([(eave, height, depth), (eave, height, depth + length),
                                    (ridge_x, ridge_y, depth + length), (ridge_x, ridge_y, depth)]))
    canvas.fill([roof], thing["roof"], BUILDING, depth)
    gable = camera.project(np.array([(x0, height, depth), (x1, height, depth), (ridge_x, ridge_y, depth)]))
    canvas.fill([gable], _shade(thing["colour"], look.face_light["z0"] * 0.95), BUILDING, depth)
    for face in faces:
        if face.name == "top":
            continue
        light = look.face_light[face.name]
        windows = [(u, u + 1.2, v, v + 1.3) for u in np.arange(1.0, face.size_u - 1.5, 2.8) for v in (1.0, 3.6)
                   if v + 1.3 < height - 0.3]
        if windows:
            canvas.fill(face.polygons(camera, windows), _shade(thing["glass"], light), BUILDING, depth)
        if face.name != "z0":
            canvas.fill(face.polygons(camera, [(face.size_u * 0.5, face.size_u * 0.5 + 1.0, 0, 2.1)]),
                        _shade(thing["roof"], light), BUILDING, depth)


def _draw_forest(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float) -> None:
    heights = thing["heights"]
    n = len(heights)
    zs = depth + np.linspace(0, thing["length"], n)
    top = canvas.camera.project(np.stack([np.full(n, x), heights, zs], 1))
    bottom = canvas.camera.project(np.stack([np.full(n, x), np.zeros(n), zs], 1))
    colour = thing["colour"]
    label = VEGETATION if thing["kind"] == "forest" else WALL
    canvas.fill([np.concatenate([top, bottom[::-1]])], colour, label, depth)
    if thing["kind"] == "forest":  # crowns: lighter blobs along the top edge
        for (u, v), h, z in zip(top[1:-1:2], heights[1:-1:2], zs[1:-1:2]):
            if z < 2.0:
                continue
            r = canvas.camera.focal * h * 0.18 / z
            canvas.fill([np.array([u, v + r * 0.6]) + r * _UNIT_CIRCLE], _shade(colour, 1.2), label, depth)
    else:  # noise wall: panels
        posts = [(z, z + 0.25) for z in np.arange(0, thing["length"], 4.0)]
        face = _Face("x", (x, 0, depth), (0, 0, 1), (0, 1, 0), thing["length"], heights[0])
        canvas.fill(face.polygons(canvas.camera, [(a, b, 0, heights[0]) for a, b in posts]),
                    _shade(colour, 0.75), WALL, depth)


def _draw_tree(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float) -> None:
    board = _Billboard(canvas.camera, x, 0.0, depth)
    trunk, radius = thing["trunk"], thing["radius"]
    if board.scale * (trunk + radius) < 2:
        return
    canvas.fill([board.rect(-0.16, 0.16, 0, trunk + radius * 0.4)], thing["trunk_colour"], VEGETATION, depth)
    if thing["conifer"]:
        for level in range(3):
            y0 = trunk * 0.6 + level * radius * 0.9
            w = radius * (1.0 - level * 0.28)
            canvas.fill([board.polygon([(-w, y0), (w, y0), (0, y0 + radius * 1.6)])],
                        _shade(thing["blobs"][level][3], 0.8 + 0.12 * level), VEGETATION, depth)
        return
    centre = trunk + radius * 0.7
    for dx, dy, r, colour in thing["blobs"]:
        canvas.fill([board.circle(dx, centre + dy, r)], colour, VEGETATION, depth)


def _draw_lamp(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float) -> None:
    board = _Billboard(canvas.camera, x, 0.0, depth)
    height = thing["height"]
    if board.scale * height < 3:
        return
    width = max(0.2, 1.2 / board.scale)  # at least about a pixel wide
    canvas.fill([board.rect(-width / 2, width / 2, 0, height)], thing["colour"], POLE, depth)
    side = thing["side"]
    if side:
        arm = -side * 1.6
        canvas.fill([board.polygon([(0, height - 0.15), (arm, height), (arm, height + 0.12), (0, height)])],
                    thing["colour"], POLE, depth)
        canvas.fill([board.rect(min(arm, arm * 0.75), max(arm, arm * 0.75), height - 0.15, height + 0.05)],
                    (210.0, 210.0, 195.0), POLE, depth)
    else:  # utility pole: a cross arm
        canvas.fill([board.rect(-0.8, 0.8, height - 0.5, height - 0.35)], thing["colour"], POLE, depth)


def _draw_sign(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float) -> None:
    board = _Billboard(canvas.camera, x, 0.0, depth)
    height = thing["height"]
    if board.scale * height < 3:
        return
    width = max(0.08, 1.0 / board.scale)
    canvas.fill([board.rect(-width / 2, width / 2, 0, height)], thing["colour"], POLE, depth)
    centre, face = height + 0.3, thing["face"]
    shape = thing["shape"]
    if shape == "circle":
        canvas.fill([board.circle(0, centre, 0.36)], face, TRAFFIC_SIGN, depth)
        canvas.fill([board.circle(0, centre, 0.24)], (235.0, 235.0, 235.0) if face[0] > 150 else face, TRAFFIC_SIGN, depth)
    elif shape == "triangle":
        canvas.fill([board.polygon([(-0.42, centre - 0.3), (0.42, centre - 0.3), (0, centre + 0.42)])], face, TRAFFIC_SIGN, depth)
        canvas.fill([board.polygon([(-0.25, centre - 0.2), (0.25, centre - 0.2), (0, centre + 0.22)])],
                    (235.0, 235.0, 235.0), TRAFFIC_SIGN, depth)
    elif shape == "square":
        canvas.fill([board.rect(-0.32, 0.32, centre - 0.32, centre + 0.32)], face, TRAFFIC_SIGN, depth)
    else:
        canvas.fill([board.rect(-0.6, 0.6, centre - 0.35, centre + 0.45)], face, TRAFFIC_SIGN, depth)
        canvas.fill([board.rect(-0.45, 0.4, centre + 0.05, centre + 0.15)], (235.0, 235.0, 235.0), TRAFFIC_SIGN, depth)


def _draw_traffic_light(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float) -> None:
    board = _Billboard(canvas.camera, x, 0.0, depth)
    height = thing["height"]
    if board.scale * height < 3:
        return
    width = max(0.14, 1.0 / board.scale)
    canvas.fill([board.rect(-width / 2, width / 2, 0, height)], thing["colour"], POLE, depth)
    heads = [0.0]
    if thing["arm"]:
        reach = -np.sign(x) * 4.0
        canvas.fill([board.rect(min(0, reach), max(0, reach), height + 1.0, height + 1.15)], thing["colour"], POLE, depth)
        heads.append(reach)
    for head_x in heads:
        top = height + 1.1 if head_x else height + 1.0
        canvas.fill([board.rect(head_x - 0.18, head_x + 0.18, top - 1.0, top)], (35.0, 35.0, 35.0), TRAFFIC_LIGHT, depth)
        for i, lit in enumerate([(255, 40, 30), (255, 180, 20), (40, 230, 90)]):
            colour = lit if i == thing["state"] else (60, 60, 55)
            canvas.fill([board.circle(head_x, top - 0.2 - i * 0.3, 0.11)], tuple(map(float, colour)), TRAFFIC_LIGHT, depth)


def _draw_fence(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float) -> None:
    camera = canvas.camera
    kind, length, colour = thing["kind"], thing["length"], thing["colour"]
    if kind == "hedge":
        _box(canvas, setup.look, x - 0.4, x + 0.4, 0.0, 1.3, depth, depth + length, colour, VEGETATION)
        return
    if kind == "wall":
        _box(canvas, setup.look, x - thing["width"] / 2, x + thing["width"] / 2, 0.0, thing["height"], depth,
             depth + length, colour, WALL)
        return
    face = _Face("x", (x, 0.0, depth), (0, 0, 1), (0, 1, 0), length, 1.2)
    if depth > 40:  # far away: a plain band
        y0, y1 = (0.45, 0.8) if kind == "guard_rail" else (0.0, 1.0 if thing["style"] == "picket" else 1.4)
        canvas.fill(face.polygons(camera, [(0, length, y0, y1)]), colour, GUARD_RAIL if kind == "guard_rail" else FENCE, depth)
        return
    if kind == "guard_rail":
        canvas.fill(face.polygons(camera, [(u, u + 0.12, 0, 0.75) for u in np.arange(0, length, 2.0)]),
                    _shade(colour, 0.6), GUARD_RAIL, depth)
        canvas.fill(face.polygons(camera, [(0, length, 0.45, 0.8)]), colour, GUARD_RAIL, depth)
        canvas.fill(face.polygons(camera, [(0, length, 0.6, 0.66)]), _shade(colour, 1.2), GUARD_RAIL, depth)
        return
    style = thing["style"]
    if style == "wood":
        canvas.fill(face.polygons(camera, [(0, length, 0, 1.5)]), colour, FENCE, depth)
        canvas.fill(face.polygons(camera, [(u, u + 0.04, 0, 1.5) for u in np.arange(0.1, length, 0.3)]),
                    _shade(colour, 0.7), FENCE, depth)
    elif style == "picket":
        canvas.fill(face.polygons(camera, [(u, u + 0.09, 0, 1.0) for u in np.arange(0, length, 0.2)]), colour, FENCE, depth)
        canvas.fill(face.polygons(camera, [(0, length, 0.65, 0.75)]), colour, FENCE, depth)
    else:  # wire: posts, rails and a mesh tint
        canvas.fill(face.polygons(camera, [(u, u + 0.1, 0, 1.4) for u in np.arange(0, length, 2.0)]), colour, FENCE, depth)
        canvas.fill(face.polygons(camera, [(0, length, v, v + 0.05) for v in (0.3, 0.8, 1.35)]), colour, FENCE, depth)


def _draw_gantry(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float) -> None:
    camera, colour = canvas.camera, (150.0, 152.0, 155.0)
    left, right = thing["left"], thing["right"]
    for post in (left, right):
        _box(canvas, setup.look, post - 0.2, post + 0.2, 0, 6.8, depth, depth + 0.4, colour, POLE)
    _box(canvas, setup.look, left, right, 6.3, 6.8, depth, depth + 0.4, colour, POLE)
    face = _Face("z0", (0.0, 0.0, depth - 0.05), (1, 0, 0), (0, 1, 0), 1, 1)
    centres = np.linspace(left + 3, right - 3, thing["signs"] + 2)[1:-1]
    signs = [(c - 2.0, c + 2.0, 4.9, 7.4) for c in centres]
    canvas.fill(face.polygons(camera, signs), thing["face"], TRAFFIC_SIGN, depth)
    lines = [(c - 1.5, c + 1.2, v, v + 0.25) for c in centres for v in (5.4, 6.1, 6.8)]
    canvas.fill(face.polygons(camera, lines), (235.0, 235.0, 235.0), TRAFFIC_SIGN, depth)


def _draw_person(canvas: _Canvas, person: dict, x: float, y: float, depth: float, sideways: bool = False,
                 phase: float = 0.0, riding: bool = False, parts: str = "all") -> None:
    """A pedestrian (or a rider, `riding`) as a billboard: legs, torso, arms, head.

    `parts` "legs" or "upper" draws only that half, so a motorcycle can be painted in between.
    """
    board = _Billboard(canvas.camera, x, y, depth)
    h = person["height"]
    if board.scale * h < 3:
        return
    label = person["label"]
    skin, shirt, pants = person["skin"], person["shirt"], person["pants"]
    if board.scale * h < 22 and not riding:  # small: one block for the legs, torso, head
        canvas.fill([board.rect(-0.1 * h, 0.1 * h, 0, 0.5 * h)], pants, label, depth)
        canvas.fill([board.polygon([(-0.12 * h, 0.48 * h), (0.12 * h, 0.48 * h), (0.14 * h, 0.83 * h),
                                    (-0.14 * h, 0.83 * h)])], shirt, label, depth)
        canvas.fill([board.circle(0, 0.92 * h, 0.075 * h)], skin, label, depth)
        return
    if riding:  # sitting: the figure starts at the seat, legs bent down to the pegs
        seat = 0.0
        legs = [[(-0.2, seat + 0.05), (-0.07, seat + 0.05), (-0.18, seat - 0.45), (-0.3, seat - 0.45)],
                [(0.07, seat + 0.05), (0.2, seat + 0.05), (0.3, seat - 0.45), (0.18, seat - 0.45)]]
        hip, shoulder, head = seat + 0.05, seat + 0.62, seat + 0.78
    else:
        swing = math.sin(phase) * (0.16 * h if sideways else 0.04 * h)
        legs = [[(-0.11 * h, 0.5 * h), (-0.01 * h, 0.5 * h), (-0.02 * h + swing, 0), (-0.1 * h + swing, 0)],
                [(0.01 * h, 0.5 * h), (0.11 * h, 0.5 * h), (0.1 * h - swing, 0), (0.02 * h - swing, 0)]]
        hip, shoulder, head = 0.5 * h, 0.82 * h, 0.925 * h
    if parts != "upper":
        canvas.fill([board.polygon(leg) for leg in legs], pants, label, depth)
    if parts == "legs":
        return
    hem = hip - (0.25 * h if person["coat"] and not riding else 0.0)
    torso = [(-0.1 * h, hem), (0.1 * h, hem), (0.135 * h, shoulder), (-0.135 * h, shoulder)]
    canvas.fill([board.polygon(torso)], shirt, label, depth)
    arm_swing = 0.0 if riding else math.sin(phase) * 0.03 * h
    hand = hip - 0.02 * h if not riding else shoulder - 0.3
    arms = [board.polygon([(sign * 0.13 * h, shoulder), (sign * 0.185 * h, shoulder - 0.02 * h),
                           (sign * 0.19 * h + arm_swing * sign, hand), (sign * 0.14 * h + arm_swing * sign, hand)])
            for sign in (-1, 1)]
    canvas.fill(arms, _shade(shirt, 0.9), label, depth)
    if person["bag"] and not riding:
        canvas.fill([board.rect(0.15 * h, 0.27 * h, hip - 0.05 * h, hip + 0.1 * h)], _shade(pants, 0.7), label, depth)
    radius = 0.07 * h
    if person["helmet"] is not None:
        canvas.fill([board.circle(0, head + 0.01, radius * 1.35)], person["helmet"], label, depth)
    else:
        canvas.fill([board.circle(0, head, radius)], skin, label, depth)
        canvas.fill([board.polygon(np.array([0, head + 0.02 * h]) + radius * 1.05 * _UNIT_CIRCLE[:8])],
                    person["hair"], label, depth)


def _draw_pedestrian(canvas: _Canvas, setup: _Setup, thing: dict, x: float, depth: float, step: int) -> None:
    phase = thing["phase"] + (step * 0.9 if thing.get("walking") else 0.0)
    _draw_person(canvas, thing, x, thing.get("y", 0.0), depth, sideways=thing.get("sideways", False), phase=phase)


def _vehicle_faces(heading: str) -> dict:
    """Which box face shows which side of a vehicle, and whether its front is at u = 0."""
    if heading == "+z":
        return {"z0": ("rear", False), "x0": ("side", False), "x1": ("side", False), "top": ("top", False)}
    if heading == "-z":
        return {"z0": ("front", False), "x0": ("side", True), "x1": ("side", True), "top": ("top", True)}
    if heading == "+x":
        return {"z0": ("side", False), "x0": ("rear", False), "x1": ("front", False), "top": ("top", False)}
    return {"z0": ("side", True), "x0": ("front", False), "x1": ("rear", False), "top": ("top", False)}


def _vehicle_box(x: float, depth: float, heading: str, along0: float, along1: float, half_width: float,
                 length: float):
    """Box (x0, x1, z0, z1) of a vehicle part spanning [along0, along1] metres from the vehicle's rear."""
    if heading == "+z":
        return x - half_width, x + half_width, depth + along0, depth + along1
    if heading == "-z":
        return x - half_width, x + half_width, depth + length - along1, depth + length - along0
    if heading == "+x":
        return x - length / 2 + along0, x - length / 2 + along1, depth, depth + 2 * half_width
    return x + length / 2 - along1, x + length / 2 - along0, depth, depth + 2 * half_width


def _draw_vehicle(canvas: _Canvas, setup: _Setup, v: dict, x: float, depth: float, step: int) -> None:
    """A car, truck, bus, tram, train or motorcycle as a few boxes with painted details."""
    look, camera = setup.look, canvas.camera
    heading, length, width, height = v["heading"], v["length"], v["width"], v["height"]
    if camera.focal * height / max(depth, 1) < 2:
        return
    kind, label = v["type"], VEHICLE_LABEL[v["type"]]
    roles = _vehicle_faces(heading)
    half = width / 2
    detailed = camera.focal * height / max(depth, 1) >= 14  # small, far vehicles: boxes only

    def part(along0, along1, half_width, y0, y1, colour):
        x0, x1, z0, z1 = _vehicle_box(x, depth, heading, along0, along1, half_width, length)
        return _box(canvas, look, x0, x1, y0, y1, z0, z1, colour, label)

    def paint(faces, role, rects_from_front, colour, mirror_rects=True):
        """Rectangles (a0, a1, v0, v1) with a measured from the vehicle's front (sides) or left (ends)."""
        if not detailed:
            return
        for face in faces:
            face_role, front_at_u0 = roles[face.name]
            if face_role != role:
                continue
            rects = rects_from_front
            if role == "side" and not front_at_u0 and mirror_rects:
                rects = [(face.size_u - a1, face.size_u - a0, v0, v1) for a0, a1, v0, v1 in rects]
            canvas.fill(face.polygons(camera, rects), _shade(colour, look.face_light[face.name]), label, depth)

    def wheels(faces, positions, radius):
        if not detailed:
            return
        for face in faces:
            face_role, front_at_u0 = roles[face.name]
            if face_role != "side":
                continue
            for a in positions:
                u = a if front_at_u0 else face.size_u - a
                canvas.fill([face.ellipse(camera, u, radius, radius)], (22.0, 22.0, 24.0), label, depth)
                canvas.fill([face.ellipse(camera, u, radius, radius * 0.5)], (125.0, 125.0, 128.0), label, depth)

    dark, glass = (25.0, 25.0, 28.0), (45.0, 55.0, 65.0)
    colour = v["colour"]
    if kind == "car":
        style = v["style"]
        part(0.5, length - 0.5, half - 0.1, 0.0, 0.4, dark)  # wheels and shadow seen from the ends
        belt = 0.55 * height if style != "van" else 0.45 * height
        body = part(0.0, length, half, 0.28, belt, colour)
        wheels(body, (0.85, length - 0.9), 0.33)
        lights = (200.0, 20.0, 20.0)
        paint(body, "rear", [(0.08, 0.38, belt - 0.2, belt - 0.05), (width - 0.38, width - 0.08, belt - 0.2, belt - 0.05)], lights)
        paint(body, "front", [(0.08, 0.38, belt - 0.18, belt - 0.05), (width - 0.38, width - 0.08, belt - 0.18, belt - 0.05)],
              (235.0, 235.0, 215.0))
        paint(body, "front", [(0.45, width - 0.45, belt - 0.2, belt - 0.1)], dark)
        paint(body, "rear", [(width / 2 - 0.25, width / 2 + 0.25, 0.15, 0.27)], (230.0, 230.0, 225.0))
        cabin_from, cabin_to = {"sedan": (0.9, 3.2), "hatch": (0.25, 2.6), "suv": (0.35, 3.4), "van": (0.2, 4.0)}[style]
        cabin_to = min(cabin_to * length / 4.6 + 0.2, length - 0.15)
        cabin = part(cabin_from, cabin_to, half - 0.1, belt, height, glass)
        span = cabin_to - cabin_from
        paint(cabin, "side", [(0, 0.12, 0, height - belt), (span * 0.52, span * 0.58, 0, height - belt),
                              (span - 0.2, span, 0, height - belt), (0, span, height - belt - 0.08, height - belt)],
              colour)
        for role in ("rear", "front"):
            paint(cabin, role, [(0, 0.12, 0, height - belt), (width - 0.32, width - 0.2, 0, height - belt),
                                (0, width - 0.2, height - belt - 0.1, height - belt)], colour)
        paint(cabin, "top", [(0, width, 0, span)], colour)
    elif kind == "truck":
        cab_len = 2.3
        part(0.4, length - 0.4, half - 0.1, 0.0, 0.9, dark)
        chassis = part(0.0, length, half, 0.45, 1.05, (60.0, 60.0, 62.0))
        wheels(chassis, (1.2, length - 1.0, length - 2.2), 0.5)
        cab = part(length - cab_len, length, half, 0.9, 3.0, colour)
        paint(cab, "front", [(0.15, width - 0.15, 1.6, 2.75)], glass)
        paint(cab, "front", [(0.2, 0.5, 1.0, 1.25), (width - 0.5, width - 0.2, 1.0, 1.25)], (235.0, 235.0, 215.0))
        paint(cab, "side", [(0.3, 1.3, 1.55, 2.55)], glass, mirror_rects=False)
        cargo = part(0.0, length - cab_len - 0.15, half, 1.05, height, v["cargo"])
        box_len = length - cab_len - 0.15
        paint(cargo, "side", [(0.0, box_len, 0.25, 0.5)], v["stripe"])
        paint(cargo, "rear", [(width / 2 - 0.03, width / 2 + 0.03, 0.05, height - 1.15),
                              (0, width, height - 1.25, height - 1.05)], _shade(v["cargo"], 0.6))
        paint(chassis, "rear", [(0.1, 0.4, 0.3, 0.45), (width - 0.4, width - 0.1, 0.3, 0.45)], (200.0, 25.0, 20.0))
    elif kind == "bus":
        part(0.5, length - 0.5, half - 0.1, 0.0, 0.35, dark)
        body = part(0.0, length, half, 0.3, height, colour)
        wheels(body, (2.6, length - 3.0), 0.5)
        pillars = np.arange(2.2, length - 0.6, 1.5)
        band = [(0.3, length - 0.4, 1.0, 2.7)]
        paint(body, "side", band, glass)
        paint(body, "side", [(a, a + 0.12, 1.0, 2.7) for a in pillars], colour)
        paint(body, "side", [(0.0, length, 0.5, 0.85)], v["stripe"])
        paint(body, "side", [(0.9, 2.0, 0.35, 2.6)], _shade(glass, 0.8))
        paint(body, "front", [(0.1, width - 0.1, 0.95, height - 0.45)], glass)
        paint(body, "front", [(0.3, width - 0.3, height - 0.4, height - 0.12)], (20.0, 20.0, 20.0))
        paint(body, "front", [(0.12, 0.45, 0.5, 0.7), (width - 0.45, width - 0.12, 0.5, 0.7)], (235.0, 235.0, 215.0))
        paint(body, "rear", [(0.15, width - 0.15, 1.9, height - 0.3)], glass)
        paint(body, "rear", [(0.1, 0.35, 0.7, 1.2), (width - 0.35, width - 0.1, 0.7, 1.2)], (200.0, 25.0, 20.0))
        paint(body, "rear", [(0.0, width, 0.5, 0.8)], v["stripe"])
    elif kind in ("tram", "train"):
        segments = v["segments"]
        seg = length / segments
        floor = 0.35 if kind == "tram" else 0.95
        window_low, window_high = (1.05, 2.55) if kind == "tram" else (1.9, 3.0)
        order = range(segments)
        if heading == "+z":
            order = reversed(order)  # draw the far segments first
        for i in order:
            a0, a1 = i * seg + 0.2, (i + 1) * seg - 0.2
            if kind == "train":
                part(a0 + 1.0, a0 + 3.2, half - 0.2, 0.15, floor, dark)
                part(a1 - 3.2, a1 - 1.0, half - 0.2, 0.15, floor, dark)
            else:
                part(a0 + 1.0, a1 - 1.0, half - 0.15, 0.0, floor + 0.05, dark)
            faces = part(a0, a1, half, floor, height, colour)
            span = a1 - a0
            paint(faces, "side", [(0.2, span - 0.2, window_low, window_high)], glass, mirror_rects=False)
            paint(faces, "side", [(a, a + 0.14, window_low, window_high) for a in np.arange(0.9, span - 0.5, 1.3)],
                  colour, mirror_rects=False)
            paint(faces, "side", [(0.0, span, floor + 0.1, floor + 0.45)], v["stripe"], mirror_rects=False)
            if kind == "tram":
                paint(faces, "side", [(0.0, span, window_high + 0.1, height - floor)], v["stripe"], mirror_rects=False)
                paint(faces, "side", [(span / 2 - 0.65, span / 2 + 0.65, floor + 0.05, window_high + 0.1)],
                      _shade(glass, 0.75), mirror_rects=False)
            for role in ("front", "rear"):
                paint(faces, role, [(0.1, width - 0.1, window_low + 0.1, height - 0.35)], glass)
                paint(faces, role, [(0.15, 0.5, floor + 0.25, floor + 0.45), (width - 0.5, width - 0.15, floor + 0.25,
                                                                            floor + 0.45)], (235.0, 225.0, 190.0))
            if i == segments // 2 or (kind == "train" and i == 0):
                _pantograph(canvas, v, x, depth, heading, a0, a1, height, label)
    else:  # motorcycle and rider
        rider = v["rider"]
        rx, _, rz, _ = _vehicle_box(x, depth, heading, length * 0.4, length * 0.6, 0.0, length)
        rider_z = max(rz if heading[1] == "z" else depth + width / 2 - 0.05, depth)
        rider_x = rx if heading[1] == "z" else x
        part(0.0, 0.35, 0.08, 0.0, 0.65, dark)
        part(length - 0.35, length, 0.08, 0.0, 0.65, dark)
        along = heading[1] == "z"
        if rider is not None and along:  # seen from behind or ahead, the bike hides the rider's legs
            _draw_person(canvas, rider, rider_x, 0.82, rider_z, riding=True, parts="legs")
        faces = part(0.3, length - 0.3, 0.3, 0.35, 0.92, colour)
        if v["cases"]:  # side cases / top box
            part(0.05, 0.75, half, 0.42, 0.92, _shade(colour, 0.7))
        wheels(faces, (0.35, length - 0.35), 0.32)
        paint(faces, "side", [(0.6, 1.3, 0.3, 0.6)], (70.0, 70.0, 72.0))
        paint(faces, "rear", [(0.12, 0.32, 0.8, 0.92)], (210.0, 25.0, 20.0))
        paint(faces, "front", [(0.1, 0.34, 0.75, 0.95)], (240.0, 240.0, 220.0))
        if rider is None:
            return
        _draw_person(canvas, rider, rider_x, 0.82, rider_z, riding=True, parts="upper" if along else "all")
        canvas.fill([_Billboard(camera, rider_x, 0.82, rider_z).rect(-0.42, 0.42, 0.25, 0.3)],
                    (30.0, 30.0, 30.0), MOTORCYCLE, depth)  # handlebar


def _pantograph(canvas: _Canvas, v: dict, x: float, depth: float, heading: str, a0: float, a1: float,
                height: float, label: int) -> None:
    mid = (a0 + a1) / 2
    x0, x1, z0, z1 = _vehicle_box(x, depth, heading, mid - 1.0, mid + 1.0, 0.4, v["length"])
    xc = (x0 + x1) / 2
    points = np.array([(xc, height, z0), (xc, height + 0.9, (z0 + z1) / 2), (xc, height + 1.25, z0 + 0.3),
                       (xc, height + 1.25, z1 - 0.3)])
    camera = canvas.camera
    thickness = int(round(camera.focal * 0.07 / max(depth, 1)))
    canvas.line(camera.project(points), (40.0, 40.0, 40.0), label, thickness)
    canvas.fill(_Face("top", (x0, height, z0), (1, 0, 0), (0, 0, 1), x1 - x0, z1 - z0).polygons(
        camera, [(0, x1 - x0, 0, z1 - z0)]), (90.0, 90.0, 95.0), label, depth)


def _draw_wires(canvas: _Canvas, setup: _Setup) -> None:
    """Overhead tram wires: drawn in the image only (too thin to label)."""
    camera = canvas.camera
    for x in setup.rails:
        z = GROUND_Z[GROUND_Z < Z_OBJECTS]
        points = camera.project(np.stack([np.full_like(z, x), np.full_like(z, 5.8), z], 1))
        cv2.polylines(canvas.image, [np.rint(points).astype(np.int32)], False, (40, 40, 40), 1)


def _draw_bonnet(canvas: _Canvas, setup: _Setup) -> None:
    width, height = canvas.camera.width, canvas.camera.height
    us = np.linspace(0, width, 25)
    top = height * (0.87 + 0.07 * ((us - width / 2) / (width / 2)) ** 2)
    polygon = np.concatenate([np.stack([us, top], 1), [(width, height), (0, height)]])
    colour = setup.look.ego
    canvas.fill([polygon], _shade(colour, 0.8), EGO, 0.5)
    sheen = np.concatenate([np.stack([us[6:19], top[6:19] + height * 0.025], 1),
                            np.stack([us[18:5:-1], top[18:5:-1] + height * 0.05], 1)])
    canvas.fill([sheen], _shade(colour, 1.25), EGO, 0.5)


_BILLBOARDS = {"person", "tree", "lamp", "sign", "traffic_light"}
_MAX_DEPTH = {"person": 40.0, "moto": 70.0, "sign": 70.0, "traffic_light": 90.0}  # beyond: under a pixel or two
_DRAWERS = {"building": _draw_building, "house": _draw_house, "forest": _draw_forest, "noise_wall": _draw_forest,
            "tree": _draw_tree, "lamp": _draw_lamp, "sign": _draw_sign, "traffic_light": _draw_traffic_light,
            "fence": _draw_fence, "hedge": _draw_fence, "guard_rail": _draw_fence, "wall": _draw_fence,
            "gantry": _draw_gantry}


# ----------------------------------------------------------------------------------------------
# texture, light and weather

_FINE_NOISE = {ROAD: 5, SIDEWALK: 5, BUILDING: 4, WALL: 4, FENCE: 5, GUARD_RAIL: 4, VEGETATION: 12, TERRAIN: 8,
               SKY: 1, EGO: 1.5, RAIL_TRACK: 12, PERSON: 4, RIDER: 4}
_BLOTCH_NOISE = {ROAD: 7, SIDEWALK: 5, BUILDING: 7, WALL: 5, FENCE: 5, VEGETATION: 16, TERRAIN: 14, SKY: 3,
                 EGO: 3, RAIL_TRACK: 7, CAR: 3, TRUCK: 4, BUS: 3, TRAIN: 3, MOTORCYCLE: 3, PERSON: 3, RIDER: 3}


def _noise_lut(table: dict, default: float, strength: float) -> np.ndarray:
    lut = np.full(256, default, np.float32)
    for label, value in table.items():
        lut[label] = value
    return lut * strength


@functools.lru_cache(maxsize=8)
def _noise_fields(seed: int, sequence: int, size: tuple[int, int]):
    """Per sequence: fine grain (with a margin, for sensor noise) and smooth blotches, both ~N(0, 1)."""
    width, height = size
    rng = np.random.default_rng([seed, 31, sequence])
    fine = rng.standard_normal((height + 16, width + 16), dtype=np.float32)
    small = rng.standard_normal((height // 6 + 2, width // 6 + 2)).astype(np.float32)
    blotch = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    blotch += 0.5 * cv2.resize(rng.standard_normal((height // 20 + 2, width // 20 + 2)).astype(np.float32),
                               (width, height), interpolation=cv2.INTER_CUBIC)
    blotch /= blotch.std() + 1e-6
    return fine, blotch


def _finish(canvas: _Canvas, setup: _Setup, rng: np.random.Generator, weather: str) -> np.ndarray:
    """Texture, exposure, weather and sensor noise on top of the flat painting."""
    look = setup.look
    height, width = canvas.label.shape
    fine, blotch = _noise_fields(setup.seed, setup.sequence, (width, height))
    label = canvas.label
    dy, dx = (int(v) for v in rng.integers(0, 16, 2))
    texture = (fine[8:8 + height, 8:8 + width] * _noise_lut(_FINE_NOISE, 3.0, look.texture)[label]
               + blotch * _noise_lut(_BLOTCH_NOISE, 4.0, look.texture)[label]
               + 1.5 * fine[dy:dy + height, dx:dx + width])
    image = canvas.image.astype(np.float32)
    image += texture[..., None]
    image = cv2.GaussianBlur(image, (3, 3), 0.7)  # soft edges, like a camera
    if weather == "rain":
        image = _rain(image, canvas, rng)
    image *= np.array(look.gain, np.float32)
    if weather == "fog":
        fade = 1.0 - 0.85 * np.exp(-canvas.depth / look.visibility)  # haze everywhere, thicker far away
        image += fade[..., None] * (np.array(look.fog, np.float32) - image)
    return np.clip(image, 0, 255).astype(np.uint8)


def _rain(image: np.ndarray, canvas: _Canvas, rng: np.random.Generator) -> np.ndarray:
    """Darker and greyer, a wet sheen mirrored on the road, and streaks of rain."""
    height, width = canvas.label.shape
    horizon = int(canvas.camera.horizon) + 1
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    image = 0.72 * (0.7 * image + 0.3 * grey)
    mirror = np.clip(2 * horizon - np.arange(horizon, height), 0, height - 1)
    reflection = cv2.blur(image[mirror], (3, 21))  # the scene above, mirrored in the wet road
    wet = np.zeros(256, np.float32)
    wet[ROAD], wet[SIDEWALK], wet[RAIL_TRACK] = 0.35, 0.2, 0.15
    alpha = wet[canvas.label[horizon:]][..., None]
    image[horizon:] += alpha * (reflection - image[horizon:])
    streaks = np.zeros((height, width), np.uint8)
    count = int(width * height / 400)
    starts = rng.uniform([0, 0], [width, height], (count, 2))
    slant = rng.uniform(-0.25, 0.05)
    lengths = rng.uniform(0.02, 0.06, (count, 1)) * height
    ends = starts + lengths * np.array([slant, 1.0])
    lines = np.stack([starts, ends], 1).astype(np.int32)
    cv2.polylines(streaks, list(lines), False, 255, 1)
    image += 0.18 * streaks[..., None].astype(np.float32)
    return image


# ----------------------------------------------------------------------------------------------
# public: one frame, the plan of a data set, the data set


def render_street_frame(seed: int = 0, sequence: int = 0, step: int = 0, size: tuple[int, int] = (480, 264),
                        scene: str | None = None, weather: str = "clear") -> tuple[np.ndarray, np.ndarray]:
    """Render frame `step` (0-based) of street sequence `sequence` on its own, from the seeds alone.

    Returns (image H×W×3 uint8 RGB, label H×W uint8 Cityscapes labelIds). `scene` defaults to
    `scene_for_sequence(seed, sequence)`; `weather` is "clear", "rain" or "fog".
    """
    width, height = int(size[0]), int(size[1])
    if width < 32 or height < 24:
        raise ValueError(f"frame size {width}x{height} is too small; use at least 32x24")
    if weather not in WEATHERS:
        raise ValueError(f"unknown weather {weather!r}; choose one of {', '.join(WEATHERS)}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    scene = scene or scene_for_sequence(seed, sequence)
    setup = _setup(int(seed), int(sequence), scene, (width, height))
    rng = np.random.default_rng([seed, 2, sequence, step])
    canvas = _Canvas(setup.camera, with_depth=weather == "fog")
    background_image, background_label = _background(int(seed), int(sequence), scene, (width, height))
    np.copyto(canvas.image, background_image)
    np.copyto(canvas.label, background_label)
    _draw_moving_ground(canvas, setup, step)
    placed = _things_at(setup, step, (width, height))
    placed.sort(key=lambda item: -item[0])
    for depth, x, thing in placed:
        if thing.get("layer") == -1:
            _draw_ground_thing(canvas, setup, thing, x, depth)
    _draw_shadows(canvas, setup, placed)
    for depth, x, thing in placed:
        if thing.get("layer") == 0:
            _DRAWERS[thing["kind"]](canvas, setup, thing, x, depth)
    _draw_wires(canvas, setup)
    for depth, x, thing in placed:
        layer, kind = thing.get("layer", 1), thing["kind"]
        if layer != 1 or (kind in _BILLBOARDS and depth < 1.5) or depth > _MAX_DEPTH.get(thing.get("type", kind), Z_OBJECTS):
            continue
        if kind == "vehicle":
            _draw_vehicle(canvas, setup, thing, x, depth, step)
        elif kind == "person":
            _draw_pedestrian(canvas, setup, thing, x, depth, step)
        else:
            _DRAWERS[kind](canvas, setup, thing, x, depth)
    _draw_bonnet(canvas, setup)
    image = _finish(canvas, setup, rng, weather)
    return image, canvas.label


def street_plan(sequences: int = 40, frames_per_sequence: int = 20, seed: int = 0, defect_rate: float = 0.04,
                weather_rate: float = 0.3) -> pd.DataFrame:
    """The meta table of a street data set, without rendering: frame, sequence, scene, weather, defect.

    Scenes rotate in seeded blocks of four sequences. round(weather_rate · sequences) sequences get
    rain or fog (alternately, rain first). round(defect_rate · frames) frames get a defect; the kinds
    take turns in the order of DEFECT_KINDS, so each kind gets n // 5 frames and the first n % 5
    kinds one more.
    """
    if sequences < 1 or frames_per_sequence < 1:
        raise ValueError(f"need at least one sequence and one frame, got {sequences} × {frames_per_sequence}")
    for name, rate in (("defect_rate", defect_rate), ("weather_rate", weather_rate)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {rate}")
    total = sequences * frames_per_sequence
    sequence = np.repeat(np.arange(sequences), frames_per_sequence)
    scenes = [scene_for_sequence(seed, s) for s in range(sequences)]
    weathers = ["clear"] * sequences
    bad = int(round(weather_rate * sequences))
    for i, s in enumerate(np.random.default_rng([seed, 5]).permutation(sequences)[:bad]):
        weathers[int(s)] = "rain" if i % 2 == 0 else "fog"
    defects = np.array(["none"] * total, dtype=object)
    count = int(round(defect_rate * total))
    chosen = np.random.default_rng([seed, 6]).choice(total, size=count, replace=False)
    for i, index in enumerate(chosen):
        defects[index] = DEFECT_KINDS[i % len(DEFECT_KINDS)]
    return pd.DataFrame({"frame": np.arange(1, total + 1), "sequence": sequence,
                         "scene": [scenes[s] for s in sequence], "weather": [weathers[s] for s in sequence],
                         "defect": defects})


def shift_label(label: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Shift a label by (dx, dy) pixels; the uncovered border repeats the nearest row or column."""
    height, width = label.shape
    rows = np.clip(np.arange(height) - dy, 0, height - 1)
    cols = np.clip(np.arange(width) - dx, 0, width - 1)
    return label[rows[:, None], cols[None, :]]


def _defect_label(kind: str, label: np.ndarray, row, plan: pd.DataFrame, seed: int,
                  frames_per_sequence: int, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """The label written for a defective frame, and the fraction of the image PNG kept (truncated)."""
    rng = np.random.default_rng([seed, 7, int(row.frame)])
    if kind == "misaligned":
        dx, dy = (int(rng.integers(5, 11)) * int(rng.choice([-1, 1])) for _ in range(2))
        if rng.random() < 0.5:  # sometimes along one axis only
            dx, dy = (dx, 0) if rng.random() < 0.5 else (0, dy)
        return shift_label(label, dx, dy), 1.0
    if kind == "swapped":
        sequences = int(plan["sequence"].max()) + 1  # with one sequence, an unwritten one is taken
        other = (int(row.sequence) + 1 + int(rng.integers(0, max(sequences - 1, 1)))) % max(sequences, 2)
        step = int(rng.integers(0, frames_per_sequence))
        _, other_label = render_street_frame(seed, other, step, size)
        return other_label, 1.0
    if kind == "size_mismatch":
        width, height = size
        dw, dh = (int(rng.integers(1, 9)) * int(rng.choice([-1, 1])) for _ in range(2))
        return cv2.resize(label, (width + dw, height + dh), interpolation=cv2.INTER_NEAREST), 1.0
    if kind == "empty_label":
        return np.zeros_like(label), 1.0
    return label, float(rng.uniform(0.3, 0.7))  # truncated image file


def encode_image_png(image_rgb: np.ndarray) -> bytes:
    """An RGB image as PNG bytes (OpenCV, fast compression, no timestamps: same image, same bytes)."""
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 2])
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return buffer.tobytes()


def write_label_png(label_ids: np.ndarray, path: str | os.PathLike) -> None:
    """Save labelIds as an 8-bit palette PNG with the Cityscapes colours (the Playing for Data format)."""
    image = Image.fromarray(np.ascontiguousarray(label_ids, dtype=np.uint8))
    image.putpalette(cityscapes_palette())
    image.save(path, format="PNG", compress_level=3)


def _is_earlier_output(folder: Path, layout: dict) -> bool:
    """Whether `folder` holds only what `layout` allows: name → "file", a file suffix (a folder of
    such files) or a nested layout."""
    for entry in folder.iterdir():
        kind = layout.get(entry.name)
        if kind is None:
            return False
        if kind == "file":
            if not entry.is_file():
                return False
        elif isinstance(kind, dict):
            if not entry.is_dir() or not _is_earlier_output(entry, kind):
                return False
        elif not entry.is_dir() or not all(f.is_file() and f.name.endswith(kind) for f in entry.iterdir()):
            return False
    return True


def _check_output(out: Path, layout: dict, force: bool, command: str) -> None:
    """Refuse `out` when it is neither missing, empty nor an earlier output of `command` (unless forced)."""
    if out.exists() and any(out.iterdir()) and not _is_earlier_output(out, layout) and not force:
        raise FileExistsError(f"{out} is not empty and does not look like an earlier output of {command}; "
                              f"choose an empty or new folder, or pass --force (force=True) to write into it")


@contextlib.contextmanager
def _staged_output(out: Path, layout: dict, force: bool, command: str):
    """Yield a hidden staging folder beside `out` to generate into; move it into place at the end.

    An interrupted run leaves the earlier data set as it was (no data set without its meta file);
    the staging folder it leaves is removed by the next run. `out` is replaced as a whole when it
    is new, empty or an earlier output; into a foreign folder (force) the files are moved one by
    one, the meta file last.
    """
    _check_output(out, layout, force, command)
    remove_leftovers(out.parent, out.name, ("generating", "old"))
    staged = staging_folder(out.parent, out.name, "generating")
    try:
        yield staged
        if out.exists() and any(out.iterdir()) and not _is_earlier_output(out, layout):
            files = sorted((p for p in staged.rglob("*") if p.is_file()), key=lambda p: (p.suffix == ".csv", str(p)))
            for file in files:
                target = out / file.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, target)
        else:
            old = staging_folder(out.parent, out.name, "old") / "previous" if out.exists() else None
            if old is not None:
                os.replace(out, old)
            os.replace(staged, out)
            if old is not None:
                shutil.rmtree(old.parent, ignore_errors=True)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def generate_streets(out: str | os.PathLike, sequences: int = 40, frames_per_sequence: int = 20,
                     size: tuple[int, int] = (480, 264), seed: int = 0, defect_rate: float = 0.04,
                     weather_rate: float = 0.3, progress: bool = True, force: bool = False) -> pd.DataFrame:
    """Write a street data set in the Playing for Data layout and return its meta table.

    out/images/00001.png (RGB), out/labels/00001.png (palette PNG, index = Cityscapes labelId) and
    out/meta.csv (frame, sequence, scene, weather, defect). The same arguments give the same bytes.
    A folder that is neither empty nor an earlier output is refused unless `force`.
    """
    width, height = int(size[0]), int(size[1])
    plan = street_plan(sequences, frames_per_sequence, seed, defect_rate, weather_rate)
    with _staged_output(Path(out), STREETS_LAYOUT, force, "make_synthetic_streets.py") as staged:
        _write_streets(staged, plan, frames_per_sequence, (width, height), seed, progress)
    return plan


def _write_streets(out: Path, plan: pd.DataFrame, frames_per_sequence: int, size: tuple[int, int], seed: int,
                   progress: bool) -> None:
    """Render every frame of `plan` into out/images, out/labels, then write out/meta.csv."""
    width, height = size
    (out / "images").mkdir(exist_ok=True)
    (out / "labels").mkdir(exist_ok=True)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        rows = tqdm(plan.itertuples(index=False), total=len(plan), desc="street frames", unit="frame",
                    disable=not progress or is_quiet())
        for row in rows:
            step = (int(row.frame) - 1) % frames_per_sequence
            image, label = render_street_frame(seed, int(row.sequence), step, (width, height), row.scene, row.weather)
            keep = 1.0
            if row.defect != "none":
                label, keep = _defect_label(row.defect, label, row, plan, seed, frames_per_sequence, (width, height))
            stem = f"{int(row.frame):05d}.png"
            data = encode_image_png(image)
            (out / "images" / stem).write_bytes(data[: int(len(data) * keep)])
            write_label_png(label, out / "labels" / stem)
    finally:
        cv2.setNumThreads(threads)
    plan.to_csv(out / "meta.csv", index=False)


# ----------------------------------------------------------------------------------------------
# aerial forest patches


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field of about `cells` blobs across, normalized to ~N(0, 1)."""
    small = rng.standard_normal((cells + 3, cells + 3)).astype(np.float32)
    field = cv2.resize(small, (size + 2 * size // cells, size + 2 * size // cells), interpolation=cv2.INTER_CUBIC)
    offset = size // cells
    field = field[offset:offset + size, offset:offset + size]
    return (field - field.mean()) / (field.std() + 1e-6)


def render_forest_patch(seed: int = 0, source: int = 0, patch: int = 0, size: int = 256,
                        forest_fraction: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One aerial patch: (image size×size×3 uint8 RGB, mask size×size uint8, 255 = forest, 0 = not).

    Canopy is textured crowns in dark greens; the rest is fields, roads, buildings and water.
    `forest_fraction` defaults to a seeded value in [0, 1] (some patches all forest, some none).
    """
    style = np.random.default_rng([seed, 41, source])  # shared by the patches of one source image
    rng = np.random.default_rng([seed, 42, source, patch])
    if forest_fraction is None:
        forest_fraction = float(np.clip(rng.uniform(-0.15, 1.15), 0.0, 1.0))
    season = style.uniform(-1, 1)
    light = style.uniform(0.8, 1.15)
    # forest where a smooth field is above the quantile that leaves `forest_fraction`
    field = _smooth_noise(rng, size, int(rng.integers(2, 6))) + 0.35 * _smooth_noise(rng, size, 12)
    if forest_fraction <= 0:
        forest = np.zeros((size, size), bool)
    elif forest_fraction >= 1:
        forest = np.ones((size, size), bool)
    else:
        forest = field > np.quantile(field, 1.0 - forest_fraction)
    # ground: fields as a patchwork of stripes and colours
    image = np.empty((size, size, 3), np.float32)
    crops = [(150, 160, 90), (185, 170, 110), (120, 140, 70), (170, 150, 100), (140, 155, 95), (200, 185, 130)]
    cells = _smooth_noise(rng, size, 3)
    bounds = np.quantile(cells, [0.25, 0.5, 0.75])
    parcel = np.digitize(cells, bounds)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for k in range(4):
        colour = np.array(crops[int(rng.integers(len(crops)))], np.float32) * (1 + 0.08 * season)
        angle = rng.uniform(0, np.pi)
        stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * rng.uniform(0.3, 0.9)) * rng.uniform(3, 10)
        image[parcel == k] = colour + stripes[parcel == k, None]
    # water
    if rng.random() < 0.3:
        water = (_smooth_noise(rng, size, 3) > 1.0) & ~forest
        image[water] = np.array([45, 70, 80], np.float32) + rng.normal(0, 3, 3)
    # roads and buildings (never inside the forest mask: the mask stays honest)
    overlay = np.zeros((size, size, 3), np.uint8)
    mask_overlay = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(0, 3))):
        p0, p1 = rng.uniform(-20, size + 20, 2), rng.uniform(-20, size + 20, 2)
        thickness = int(rng.integers(3, 9))
        colour = tuple(int(c) for c in rng.choice([[120, 118, 112], [165, 150, 125], [95, 95, 98]]))
        cv2.line(overlay, tuple(int(v) for v in p0), tuple(int(v) for v in p1), colour, thickness)
        cv2.line(mask_overlay, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 255, thickness)
    for _ in range(int(rng.poisson(2.0))):
        centre = rng.uniform(10, size - 10, 2)
        w, h = rng.uniform(6, 22, 2)
        box = cv2.boxPoints(((float(centre[0]), float(centre[1])), (float(w), float(h)), float(rng.uniform(0, 90))))
        roof = tuple(int(c) for c in rng.choice([[170, 80, 60], [120, 120, 125], [210, 210, 205], [90, 60, 50]]))
        cv2.fillPoly(overlay, [np.rint(box + 2).astype(np.int32)], (35, 35, 35))  # shadow
        cv2.fillPoly(overlay, [np.rint(box).astype(np.int32)], roof)
        cv2.fillPoly(mask_overlay, [np.rint(box + 2).astype(np.int32)], 255)
    built = (mask_overlay > 0) & ~forest
    image[built] = overlay[built]
    # canopy: round crowns, lit at the top, dark gaps between them, in varied greens
    seeds = np.full((size, size), 255, np.uint8)
    points = rng.integers(0, size, (size * size // 30, 2))
    seeds[points[:, 1], points[:, 0]] = 0
    distance = cv2.distanceTransform(seeds, cv2.DIST_L2, 3)
    crown_size = rng.uniform(2.5, 4.5)
    crowns = np.clip(1.0 - distance / crown_size, 0.0, 1.0)
    hue = _smooth_noise(rng, size, 8)
    fine = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 0.8)
    base = np.array([38, 62, 34], np.float32) * (1 + 0.15 * season) + rng.normal(0, 4, 3)
    canopy = (base + (45 * crowns + 6 * fine)[..., None] * np.array([0.75, 1.0, 0.6], np.float32)
              + (8 * hue)[..., None] * np.array([1.0, 0.6, -0.2], np.float32))
    image[forest] = canopy[forest]
    # single trees outside the forest (not in the mask, as in the real data's coarse masks)
    for _ in range(int(rng.poisson(4))):
        c = rng.uniform(0, size, 2)
        cv2.circle(image, (int(c[0]), int(c[1])), int(rng.integers(2, 5)), tuple(float(v) for v in base * 1.1), -1)
    image += 6 * rng.standard_normal((size, size, 1)).astype(np.float32)
    image *= light
    return np.clip(image, 0, 255).astype(np.uint8), forest.astype(np.uint8) * 255


def generate_forest(out: str | os.PathLike, count: int = 240, size: int = 256, seed: int = 0,
                    progress: bool = True, force: bool = False) -> pd.DataFrame:
    """Write aerial patches in the Kaggle layout and return meta_data.csv's table (image, mask).

    out/"Forest Segmented"/images/<id>_sat_<nn>.jpg, masks/<id>_mask_<nn>.jpg (JPEG, 0/255 with
    compression artefacts) and out/"Forest Segmented"/meta_data.csv. Several patches share a source id.
    """
    if count < 1 or size < 16:
        raise ValueError(f"need count >= 1 and size >= 16, got count={count}, size={size}")
    with _staged_output(Path(out), FOREST_LAYOUT, force, "make_synthetic_forest.py") as staged:
        return _write_forest(staged / FOREST_FOLDER, count, size, seed, progress)


def _write_forest(root: Path, count: int, size: int, seed: int, progress: bool) -> pd.DataFrame:
    """Render `count` patches into root/images and root/masks, then write root/meta_data.csv."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    rng = np.random.default_rng([seed, 40])
    names = []
    while len(names) < count:
        source = int(rng.integers(100, 99_999))
        if any(name[0] == source for name in names):
            continue
        for patch in rng.choice(16, size=int(rng.integers(2, 9)), replace=False):
            names.append((source, int(patch)))
    names = sorted(names[:count])
    rows = []
    for source, patch in tqdm(names, desc="forest patches", unit="patch", disable=not progress or is_quiet()):
        image, mask = render_forest_patch(seed, source, patch, size)
        image_name, mask_name = f"{source}_sat_{patch:02d}.jpg", f"{source}_mask_{patch:02d}.jpg"
        cv2.imwrite(str(root / "images" / image_name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
        cv2.imwrite(str(root / "masks" / mask_name), mask, [cv2.IMWRITE_JPEG_QUALITY, 75])
        rows.append((image_name, mask_name))
    table = pd.DataFrame(rows, columns=["image", "mask"])
    table.to_csv(root / "meta_data.csv", index=False)
    return table
