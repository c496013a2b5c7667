"""What is fixed for a whole sequence: the scene's road, lanes, roadside and look, drawn from the seeds alone."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from .camera import RAIL_TRACK, ROAD, SCENE_SPEED, SIDEWALK, TERRAIN, Colour, _Camera

SCENES = ("city", "suburb", "countryside", "highway")
_CAR_COLOURS = [(235, 235, 232), (25, 25, 28), (165, 168, 172), (110, 112, 116), (70, 72, 76),
                (160, 25, 25), (30, 55, 125), (20, 35, 70), (40, 90, 60), (190, 175, 140),
                (215, 180, 30), (210, 95, 25), (120, 20, 35), (95, 130, 170)]


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

