"""The camera and the canvas: a pinhole projection of a world in metres, painted into image and label at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..classes import LABEL_ID

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

if TYPE_CHECKING:  # annotations only: layout imports this module
    from .layout import _Look

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

