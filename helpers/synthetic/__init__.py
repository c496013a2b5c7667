"""Procedural data sets: street scenes in the Playing for Data (GTA5) format, aerial forest patches.

Street scenes are seen from the bonnet of a car that drives forward through a city, a suburb,
the countryside or along a highway. A simple pinhole camera projects a world of boxes, planes
and billboards onto the image; everything is painted far to near with OpenCV polygons, into
the image and into the label at once, so labels match the pixels exactly. The world of one
sequence is built lazily in chunks of road from seeds alone, so any frame can be rendered on
its own: `render_street_frame(seed, sequence, step)`.

Forest patches are aerial views of canopy, fields, roads, buildings and water, with a binary
forest mask, in the layout of the Kaggle "Forest Aerial Images for Segmentation" data set.

The renderer is private code in the modules of this package: `camera` (projection and canvas),
`layout` (what is fixed for a sequence), `world` (the things along the road), `painting`
(one frame), `weather` (texture, light, rain, fog), `defects` (the plan of a data set and its
broken labels), `writer` (files and folders) and `forest`. What the workbook uses is below.
"""

from .defects import DEFECT_KINDS, META_COLUMNS, shift_label, street_plan
from .forest import FOREST_FOLDER, FOREST_LAYOUT, generate_forest, render_forest_patch
from .layout import SCENES, scene_for_sequence
from .painting import render_street_frame
from .weather import WEATHERS
from .writer import STREETS_LAYOUT, encode_image_png, generate_streets, write_label_png

__all__ = [
    "DEFECT_KINDS", "FOREST_FOLDER", "FOREST_LAYOUT", "META_COLUMNS", "SCENES", "STREETS_LAYOUT", "WEATHERS",
    "encode_image_png", "generate_forest", "generate_streets", "render_forest_patch", "render_street_frame",
    "scene_for_sequence", "shift_label", "street_plan", "write_label_png",
]
