"""The world along the road, generated lazily in chunks from seeds: vehicles, people, buildings, trees, signs."""

from __future__ import annotations

import functools
import math

import numpy as np

from .camera import _STOP_CROSSING, CHUNK, PERSON, RIDER, Z_CLIP, Z_OBJECTS
from .layout import _CAR_COLOURS, _Lane, _Look, _pick, _Setup, _setup, _Side, _vary

# ----------------------------------------------------------------------------------------------
# the world, generated lazily chunk by chunk

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


