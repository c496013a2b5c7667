"""Painting the world far to near into one frame: ground, buildings, roadside things, vehicles, people, bonnet."""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from .camera import (
    _UNIT_CIRCLE,
    BUILDING,
    EGO,
    FAR,
    FENCE,
    GROUND_Z,
    GUARD_RAIL,
    MOTORCYCLE,
    POLE,
    RAIL_TRACK,
    ROAD,
    SIDEWALK,
    SKY,
    TRAFFIC_LIGHT,
    TRAFFIC_SIGN,
    VEGETATION,
    VEHICLE_LABEL,
    WALL,
    Z_CLIP,
    Z_OBJECTS,
    Colour,
    _Billboard,
    _box,
    _Camera,
    _Canvas,
    _Face,
    _shade,
)
from .layout import _Setup, _setup, _vary, scene_for_sequence
from .weather import WEATHERS, _finish
from .world import _things_at

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


