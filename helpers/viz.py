"""Pictures of the workbook: class legends, overlays, prediction grids, curves, confusion matrices.

Every figure has a title, axis labels where they mean something, and a legend that names the
classes with their colours. Functions return their matplotlib Figure (browsers: their widget);
they are drawn with pyplot, so a notebook shows them by itself: end the line with `;` (or
assign the result) so a figure is not shown twice.

The browsers (`dataset_browser`, `review_browser`, `slider_widget`) are ipywidgets explorers in
a live notebook and fall back to a static figure of a few examples under papermill, CI or
scripts (see `is_interactive`). They work with ipywidgets 7 (Colab) and 8, count frames from 1,
show their figure with its title as alt text, and leave a one-line hint under the widget for
when a page reload has dropped it (the widget needs its cell run again).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .classes import CITYSCAPES_LABELS, ClassMap, cityscapes_palette, get_class_map
from .config import is_quiet
from .encoding import index_to_rgb, label_to_index

ERROR_COLOUR = (255, 0, 0)
"""Colour of a wrongly predicted pixel in an error map."""

IGNORE_COLOUR = (255, 255, 255)
"""Colour of ignored pixels (e.g. Cityscapes 255) in a colour label."""

PANEL_WIDTH = 3.2  # inches per image panel
NEAR_COLOUR = 40  # colours within this sum of |ΔR| + |ΔG| + |ΔB| look alike: a legend names their RGB values


# ----------------------------------------------------------------------------------------------
# conversions


def to_uint8_rgb(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """Any image → H×W×3 uint8 for display: torch C×H×W or numpy H×W×C, float in [0, 1] or uint8, grey or RGB."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
        if image.ndim == 3:
            image = np.moveaxis(image, 0, -1)  # torch keeps channels first
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., np.newaxis], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an RGB or grey image (H×W×3, 3×H×W or H×W), got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if image.dtype == bool or np.issubdtype(image.dtype, np.integer):
        return np.clip(image, 0, 255).astype(np.uint8)
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def to_index(target: np.ndarray | torch.Tensor) -> np.ndarray:
    """Class indices H×W (int64) from an index map, or from one-hot / scores C×H×W by argmax."""
    if isinstance(target, torch.Tensor):
        target = target.detach().cpu().numpy()
    target = np.asarray(target)
    if target.ndim == 3:
        target = target.argmax(axis=0)
    if target.ndim != 2:
        raise ValueError(f"expected class indices H×W or one-hot C×H×W, got shape {target.shape}")
    return target.astype(np.int64)


def _unit_rgb(colour: Sequence[int]) -> tuple[float, float, float]:
    """(r, g, b) in 0..255 → matplotlib colour in 0..1."""
    return tuple(channel / 255 for channel in colour)


def _class_names(class_names: ClassMap | str | Sequence[str]) -> list[str]:
    if isinstance(class_names, (ClassMap, str)):
        return list(get_class_map(class_names).class_names)
    return [str(name) for name in class_names]


# ----------------------------------------------------------------------------------------------
# legends, overlays, error maps


def legend_handles(class_map: ClassMap | str = "gta9", classes: Sequence[int] | None = None,
                   include_ignore: bool = False) -> list[Patch]:
    """One coloured Patch per class ("id name"), for `ax.legend(handles=...)`; `classes` picks a subset."""
    class_map = get_class_map(class_map)
    chosen = range(class_map.num_classes) if classes is None else classes
    handles = [Patch(facecolor=_unit_rgb(class_map.display_colours[i]), edgecolor="grey",
                     label=f"{i} {class_map.class_names[i]}") for i in chosen]
    if include_ignore and class_map.ignore_index is not None:
        handles.append(Patch(facecolor=_unit_rgb(IGNORE_COLOUR), edgecolor="grey",
                             label=f"{class_map.ignore_index} ignored"))
    return handles


MANY_CLASSES = 20
"""Above this many classes (ADE20K has 150) legends, confusion matrices and bar charts keep to the classes that matter."""


def classes_shown(target: Axes | Figure, class_map: ClassMap) -> list[int]:
    """The classes whose display colour appears in the pictures of a figure (or axes), in class order."""
    axes = target.axes if isinstance(target, Figure) else [target]
    found: set[tuple[int, int, int]] = set()
    for ax in axes:
        for picture in ax.get_images():
            array = np.asarray(picture.get_array())
            if array.ndim == 3 and array.shape[-1] == 3 and array.dtype == np.uint8:
                found.update(map(tuple, np.unique(array.reshape(-1, 3), axis=0).tolist()))
    return [i for i, colour in enumerate(class_map.display_colours) if tuple(colour) in found]


def add_legend(target: Axes | Figure, class_map: ClassMap | str = "gta9", classes: Sequence[int] | None = None,
               extra_handles: Sequence[Patch] = (), title: str | None = "classes", **kwargs) -> Legend:
    """Class legend on a figure (a row below the panels) or on an axes (to its right).

    A map of many classes lists only the classes the figure's pictures show (draw them first).
    """
    class_map = get_class_map(class_map)
    if classes is None and class_map.num_classes > MANY_CLASSES:
        classes = classes_shown(target, class_map)[:4 * MANY_CLASSES]
        title = f"{title or 'classes'} shown ({len(classes)} of {class_map.num_classes})"
    handles = legend_handles(class_map, classes) + list(extra_handles)
    if isinstance(target, Figure):
        options = {"loc": "outside lower center", "ncol": max(1, min(len(handles), 5)), "fontsize": "small"}
        return target.legend(handles=handles, title=title, **{**options, **kwargs})
    options = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0, "fontsize": "small"}
    return target.legend(handles=handles, title=title, **{**options, **kwargs})


def overlay(image: np.ndarray | torch.Tensor, index: np.ndarray | torch.Tensor,
            class_map: ClassMap | str = "gta9", alpha: float = 0.5, hidden: Sequence[int] = ()) -> np.ndarray:
    """Class colours blended over the image: (1 − alpha)·image + alpha·colour, as H×W×3 uint8.

    Pixels of `hidden` classes and ignored pixels (index outside the classes) show the image only.
    """
    class_map = get_class_map(class_map)
    picture = to_uint8_rgb(image).astype(np.float32)
    index = to_index(index)
    if index.shape != picture.shape[:2]:
        raise ValueError(f"image is {picture.shape[:2]} but the label is {index.shape}: they must match")
    coloured = (index >= 0) & (index < class_map.num_classes) & ~np.isin(index, list(hidden))
    colours = index_to_rgb(np.where(coloured, index, 0), class_map).astype(np.float32)
    blended = (1 - alpha) * picture + alpha * colours
    picture[coloured] = blended[coloured]
    return np.round(picture).astype(np.uint8)


def error_map(image: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor,
              pred: np.ndarray | torch.Tensor, ignore_index: int | ClassMap | str | None = None) -> np.ndarray:
    """Wrong pixels in red over a dimmed grey copy of the image (ignored pixels never count as wrong).

    `ignore_index` may be the data set's class map (its ignore index is used).
    """
    if ignore_index is not None and not isinstance(ignore_index, (int, np.integer)):
        ignore_index = get_class_map(ignore_index).ignore_index
    picture = to_uint8_rgb(image).astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    grey = np.repeat((60 + 0.5 * picture)[..., np.newaxis], 3, axis=-1).astype(np.uint8)
    target, pred = to_index(target), to_index(pred)
    wrong = pred != target
    if ignore_index is not None:
        wrong &= target != ignore_index
    grey[wrong] = ERROR_COLOUR
    return grey


def _show_picture(ax: Axes, picture: np.ndarray, title: str) -> None:
    ax.imshow(picture, interpolation="nearest")
    ax.set_title(title, fontsize="medium")
    pixel_axes(ax)


def pixel_axes(ax: Axes) -> None:
    """Label an image panel's axes in pixels, with small ticks, as every image figure of the workbook does."""
    ax.set(xlabel="x (pixels)", ylabel="y (pixels)")
    ax.tick_params(labelsize="x-small")
    ax.xaxis.label.set_size("small")
    ax.yaxis.label.set_size("small")


def _panel_figure(rows: int, columns: int, aspect: float, extra_height: float = 0.9) -> tuple[Figure, np.ndarray]:
    """Grid of image panels sized to the images' height/width `aspect`, constrained layout."""
    size = (PANEL_WIDTH * columns, PANEL_WIDTH * aspect * rows + extra_height)
    return plt.subplots(rows, columns, figsize=size, squeeze=False, layout="constrained")


# ----------------------------------------------------------------------------------------------
# image / target / prediction / error grids


def show_samples(images: Sequence | torch.Tensor, targets: Sequence | torch.Tensor,
                 preds: Sequence | torch.Tensor | None = None, class_map: ClassMap | str = "gta9",
                 titles: Sequence[str] | None = None, max_rows: int = 4, suptitle: str | None = None,
                 alpha: float = 0.5) -> Figure:
    """One row per sample: image / target / prediction / error map (without preds: image / target / overlay)."""
    class_map = get_class_map(class_map)
    rows = min(len(images), max_rows)
    if rows == 0:
        raise ValueError("show_samples needs at least one image")
    columns = 3 if preds is None else 4
    first = to_uint8_rgb(images[0])
    fig, axes = _panel_figure(rows, columns, first.shape[0] / first.shape[1])
    for row in range(rows):
        image, target = to_uint8_rgb(images[row]), to_index(targets[row])
        panels = [(image, titles[row] if titles is not None else f"image {row}"),
                  (index_to_rgb(target, class_map), "target")]
        if preds is None:
            panels.append((overlay(image, target, class_map, alpha), "target over image"))
        else:
            pred = to_index(preds[row])
            valid = target != class_map.ignore_index if class_map.ignore_index is not None else np.ones_like(target, bool)
            wrong_fraction = float(((pred != target) & valid).sum() / max(int(valid.sum()), 1))
            panels.append((index_to_rgb(pred, class_map), f"prediction · {1 - wrong_fraction:.1%} correct"))
            panels.append((error_map(image, target, pred, class_map.ignore_index), f"errors · {wrong_fraction:.1%} wrong"))
        for ax, (picture, title) in zip(axes[row], panels):
            _show_picture(ax, picture, title)
    default_title = "Image, target and overlay" if preds is None else "Image, target, prediction and errors"
    fig.suptitle(suptitle or default_title)
    extra = [] if preds is None else [Patch(facecolor=_unit_rgb(ERROR_COLOUR), edgecolor="grey", label="wrong pixel")]
    add_legend(fig, class_map, extra_handles=extra)
    return fig


def show_image_grid(images: Sequence, titles: Sequence[str] | None = None, suptitle: str = "Images",
                    ncols: int = 4, cmap: str = "gray", colorbar: bool = False,
                    symmetric: bool = False) -> Figure:
    """Images side by side in a grid; grey (H×W) images use `cmap`, `symmetric` centres it on 0 (signed gradients)."""
    if len(images) == 0:
        raise ValueError("show_image_grid needs at least one image")
    pictures = [_grid_picture(image) for image in images]
    ncols = min(ncols, len(pictures))
    nrows = -(-len(pictures) // ncols)
    aspect = pictures[0].shape[0] / pictures[0].shape[1]
    fig, axes = _panel_figure(nrows, ncols, aspect, extra_height=0.6)
    for position, ax in enumerate(axes.flat):
        if position >= len(pictures):
            ax.set_axis_off()
            continue
        picture = pictures[position]
        limits = {}
        if picture.ndim == 2 and symmetric:
            bound = float(np.abs(picture).max()) or 1.0
            limits = {"vmin": -bound, "vmax": bound}
        shown = ax.imshow(picture, cmap=cmap if picture.ndim == 2 else None, interpolation="nearest", **limits)
        ax.set_title(titles[position] if titles is not None else f"image {position}", fontsize="medium")
        ax.set_axis_off()
        if colorbar and picture.ndim == 2:
            fig.colorbar(shown, ax=ax, shrink=0.8)
    fig.suptitle(suptitle)
    return fig


def _grid_picture(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """Grey images stay 2-D floats (for a colour map); colour images become H×W×3 uint8."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
        if image.ndim == 3 and image.shape[0] == 1:
            image = image[0]
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float32)
    return to_uint8_rgb(image)


# ----------------------------------------------------------------------------------------------
# curves


def _history_frame(history: Any) -> pd.DataFrame:
    """A History (with .to_frame()), a DataFrame, a list of dicts or a dict of lists → DataFrame."""
    if hasattr(history, "to_frame"):
        return history.to_frame()
    if isinstance(history, pd.DataFrame):
        return history
    if isinstance(history, (list, tuple, dict)):
        return pd.DataFrame(history)
    raise TypeError(f"cannot plot a history of type {type(history).__name__}; pass a History, DataFrame or list of dicts")


def legend_outside(ax: Axes, **options: Any) -> Any:
    """A legend to the right of the axes, where it cannot hide a curve or a bar."""
    options = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": "small",
               **options}
    return ax.legend(**options)


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.0)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


LOSS_WORDS = {"ce": "cross-entropy", "dice": "Dice", "bce": "binary cross-entropy", "mse": "mean squared error"}


def loss_label(name: str) -> str:
    """An axis label for a loss given by its registry name: "ce+dice" → "cross-entropy + Dice loss"."""
    return " + ".join(LOSS_WORDS.get(part.strip(), part.strip()) for part in str(name).split("+")) + " loss"


def history_label(key: str) -> str:
    """A history column as a legend label: "val_loss" → "val loss", "miou" → "mIoU"."""
    words = {"miou": "mIoU", "iou": "IoU"}
    return " ".join(words.get(word, word) for word in key.split("_"))


def plot_history(history: Any, keys: Sequence[str] = ("train_loss", "val_loss"), ax: Axes | None = None,
                 title: str = "Training history", ylabel: str | None = None, logy: bool = False) -> Figure:
    """Columns `keys` of a training history against epoch (or step for per-batch records)."""
    frame = _history_frame(history)
    missing = [key for key in keys if key not in frame.columns]
    if missing:
        raise ValueError(f"history has no column(s) {missing}; available: {list(frame.columns)}")
    x_name = next((name for name in ("step", "epoch") if name in frame.columns), None)
    x_values = frame[x_name] if x_name else frame.index
    fig, ax = _new_axes(ax)
    marker = "o" if len(frame) <= 30 else None
    for key in keys:
        ax.plot(x_values, frame[key], marker=marker, label=history_label(key))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x_name or "record")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel or ("loss" if all(key.endswith("loss") for key in keys) else "value"))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return fig


def _curve_points(values: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """x, y and an optional std band from a Series, an (x, y) pair, 1-D values or runs × points."""
    if isinstance(values, pd.Series):
        return values.index.to_numpy(), values.to_numpy(dtype=float), None
    if isinstance(values, tuple) and len(values) == 2:
        return np.asarray(values[0]), np.asarray(values[1], dtype=float), None
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=float)
    if array.ndim == 2:  # runs × points: mean ± std over runs
        return np.arange(array.shape[1]), array.mean(axis=0), array.std(axis=0)
    return np.arange(len(array)), array, None


def plot_curves(series: Mapping[str, Any], xlabel: str, ylabel: str, title: str, logx: bool = False,
                logy: bool = False, ax: Axes | None = None) -> Figure:
    """Named curves on one axes. A value is a Series, an (x, y) pair, y values (x = 0, 1, …), or
    a runs × points array drawn as mean with a ±1 std band."""
    fig, ax = _new_axes(ax)
    for name, values in series.items():
        x, y, spread = _curve_points(values)
        (line,) = ax.plot(x, y, label=name if spread is None else f"{name} (mean ± std)")
        if spread is not None:
            ax.fill_between(x, y - spread, y + spread, color=line.get_color(), alpha=0.2)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return fig


def plot_lr_schedule(lrs: Sequence[float] | Mapping[str, Sequence[float]], title: str = "Learning-rate schedule",
                     ax: Axes | None = None, xlabel: str = "step", logy: bool = False) -> Figure:
    """The learning rate at each step: one schedule (a list) or several by name (a dict)."""
    series = lrs if isinstance(lrs, Mapping) else {"learning rate": lrs}
    return plot_curves(series, xlabel, "learning rate", title, logy=logy, ax=ax)


def plot_lr_curves(schedules: Mapping[str, Sequence[float]], title: str = "Learning-rate schedules",
                   ax: Axes | None = None, xlabel: str = "step", logy: bool = False) -> Figure:
    """Several learning-rate schedules by name on one axes (see `plot_lr_schedule`)."""
    return plot_lr_schedule(schedules, title, ax=ax, xlabel=xlabel, logy=logy)


# ----------------------------------------------------------------------------------------------
# confusion matrix and per-class values


def normalize_rows(matrix: np.ndarray | torch.Tensor) -> np.ndarray:
    """Each row divided by its sum (row = true class), so a row reads as where that class went; empty rows → NaN."""
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().cpu().numpy()
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, matrix / totals, np.nan)


def plot_confusion(matrix: np.ndarray | torch.Tensor, class_names: ClassMap | str | Sequence[str],
                   normalize: bool = True, ax: Axes | None = None, title: str = "Confusion matrix",
                   annotate: bool = True) -> Figure:
    """Confusion matrix (rows = true class, columns = prediction), row-normalised, annotated, with a colour bar.

    With more than MANY_CLASSES classes only the MANY_CLASSES with the most pixels (true or predicted)
    are drawn, and the title says so.
    """
    names = _class_names(class_names)
    counts = matrix.detach().cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix)
    if counts.shape != (len(names), len(names)):
        raise ValueError(f"matrix is {counts.shape} but there are {len(names)} class names")
    values = normalize_rows(counts) if normalize else counts.astype(np.float64)
    if len(names) > MANY_CLASSES:
        pixels = counts.sum(axis=0) + counts.sum(axis=1)
        kept = np.sort(np.argsort(-pixels, kind="stable")[:min(MANY_CLASSES, max(1, int((pixels > 0).sum())))])
        title = f"{title} ({len(kept)} classes with the most pixels, of {len(names)})"
        values, names = values[np.ix_(kept, kept)], [f"{i} {names[i]}" for i in kept]
    size = max(5.0, 0.5 * len(names) + 2.5)
    fig, ax = _new_axes(ax, figsize=(size + 1.0, size))
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    if annotate:
        _annotate_cells(ax, values, normalize, fontsize=8 if len(names) <= 10 else 6)
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=45, ha="right", fontsize="small")
    ax.set_yticks(ticks, names, fontsize="small")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class" if normalize else "pixels")
    return fig


def _annotate_cells(ax: Axes, values: np.ndarray, normalize: bool, fontsize: int) -> None:
    """Write each cell's value into the matrix; white text on dark cells ('–' for empty rows)."""
    finite_max = np.nanmax(values) if np.isfinite(values).any() else 1.0
    for (row, col), value in np.ndenumerate(values):
        text = "–" if np.isnan(value) else (f"{value:.2f}" if normalize else f"{int(value)}")
        dark = np.isfinite(value) and value > 0.5 * finite_max
        ax.text(col, row, text, ha="center", va="center", fontsize=fontsize, color="white" if dark else "black")


def plot_per_class(values: Any, class_map: ClassMap | str = "gta9", title: str = "Per-class IoU",
                   ylabel: str = "IoU", ax: Axes | None = None, log: bool = False) -> Figure:
    """One bar per class in the class's colour; NaN (class absent) is marked 'absent'.

    `values` is one value per class, or a dict of such arrays (grouped bars, one hatch per series,
    legend beside the axes). `log=True` draws a logarithmic value axis, for shares that span
    decades such as class frequencies (bars then labelled with two significant digits).
    """
    class_map = get_class_map(class_map)
    series = dict(values) if isinstance(values, Mapping) else {"": values}
    arrays = {name: _per_class_array(data, class_map) for name, data in series.items()}
    kept = np.arange(class_map.num_classes)
    if class_map.num_classes > MANY_CLASSES:  # many classes: the ones present (NaN or, without NaNs, 0 = absent)
        present = [np.isfinite(array) if np.isnan(array).any() else array != 0 for array in arrays.values()]
        kept = np.flatnonzero(np.any(present, axis=0)) if np.any(present) else kept[:MANY_CLASSES]
        arrays = {name: array[kept] for name, array in arrays.items()}
        title = f"{title} ({len(kept)} of {class_map.num_classes} classes)"
    fig, ax = _new_axes(ax, figsize=(min(24.0, max(6.4, 0.8 * len(kept) + 1.5)), 4.2))
    width = 0.8 / len(arrays)
    hatches = ["", "//", "..", "xx", "\\\\", "oo"]
    colours = [_unit_rgb(class_map.display_colours[i]) for i in kept]
    positions = np.arange(len(kept))
    for number, (name, array) in enumerate(arrays.items()):
        offsets = positions + (number - (len(arrays) - 1) / 2) * width
        bars = ax.bar(offsets, np.nan_to_num(array), width=width, color=colours, edgecolor="grey",
                      hatch=hatches[number % len(hatches)], label=name or None)
        if len(kept) <= 2 * MANY_CLASSES:
            labels = ["absent" if np.isnan(value) else f"{value:.2g}" if log else f"{value:.2f}" for value in array]
            ax.bar_label(bars, labels, fontsize=7, rotation=90 if len(arrays) > 1 else 0, padding=2)
    finite = np.concatenate([array[np.isfinite(array)] for array in arrays.values()])
    if log:
        ax.set_yscale("log")
        positive = finite[finite > 0]
        if positive.size:  # room above the tallest bar for its label
            ax.set_ylim(positive.min() / 2, positive.max() * 4)
    elif finite.size and finite.min() >= 0 and finite.max() <= 1:
        ax.set_ylim(0, 1.12)
    elif finite.size and finite.max() > 0:  # room above the tallest bar for its label
        ax.set_ylim(top=1.12 * finite.max())
    ax.set_xticks(positions, [class_map.class_names[i] for i in kept], rotation=30, ha="right")
    ax.set_xlabel("class")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if len(arrays) > 1:
        legend_outside(ax, handles=[Patch(facecolor="white", edgecolor="black", hatch=hatches[i % len(hatches)],
                                          label=name) for i, name in enumerate(arrays)])
    return fig


def _per_class_array(values: Any, class_map: ClassMap) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size != class_map.num_classes:
        raise ValueError(f"got {array.size} values for the {class_map.num_classes} classes of {class_map.name}")
    return array


# ----------------------------------------------------------------------------------------------
# widgets: live explorers with a static fallback


def is_interactive() -> bool:
    """True inside a live Jupyter kernel with ipywidgets; False under papermill / CI (quiet) or in scripts."""
    if is_quiet():
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _use_widgets(interactive: bool | None) -> bool:
    return is_interactive() if interactive is None else interactive


RELOAD_HINT = "Widget gone or showing an error after a page reload? Run this cell again to bring it back."
"""The line shown under every widget: a reloaded page keeps the outputs but not the widgets' live state."""


class _ReloadHint:
    """A plain (non-widget) output, so it survives the page reload that breaks the widget above it."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": RELOAD_HINT,
                "text/html": f'<div class="workbook-reload-hint" style="font-size:smaller;opacity:0.75">'
                             f"↻ {html.escape(RELOAD_HINT)}</div>"}


def _show_widget(widget: Any) -> Any:
    """Display a widget and the reload hint under it; return the widget."""
    from IPython.display import display

    display(widget)
    display(_ReloadHint())
    return widget


def _figure_title(figure: Figure) -> str:
    """The figure's suptitle, else its axes' titles joined: the text a reader of the picture sees first."""
    title = figure.get_suptitle()
    return title or " · ".join(ax.get_title() for ax in figure.axes if ax.get_title()) or "figure"


def _show_figure(figure: Figure) -> None:
    """Show a figure inside a widget as a PNG whose alt text is its title, and close it (no second copy)."""
    from IPython.display import display

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(figure)
    title = html.escape(_figure_title(figure))
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    display({"text/html": f'<img src="data:image/png;base64,{data}" alt="{title}">',
             "text/plain": f"<Figure: {title}>"}, raw=True)


def _spread_indices(count: int, how_many: int) -> list[int]:
    """`how_many` frame positions spread evenly over 0..count−1 (first and last included)."""
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, min(how_many, count))})


def _one_per_group(dataset: Any, count: int, column: str | None) -> list[int] | None:
    """One frame of each value of the manifest's `column` among the first `count` frames (in the order the values
    first occur): its first clear-weather frame where the manifest records the weather, else its first frame. None
    when `column` is None or the data set's manifest does not record it."""
    manifest = getattr(dataset, "manifest", None)
    if column is None or not isinstance(manifest, pd.DataFrame) or column not in manifest.columns:
        return None
    table = manifest.iloc[:count].reset_index(drop=True)
    table = table[table[column].notna()]
    clear = table["weather"].eq("clear") if "weather" in table.columns else pd.Series(False, index=table.index)
    # clear frames first within each value (a stable sort keeps frame order), values in order of first occurrence
    order = {value: rank for rank, value in enumerate(table[column].drop_duplicates())}
    ranked = table.assign(_value=table[column].map(order), _cloudy=~clear).sort_values(["_value", "_cloudy"],
                                                                                     kind="stable")
    return [int(i) for i in ranked.drop_duplicates(column).index] or None


def _frame_name(dataset: Any, index: int) -> str:
    """The data set's own frame id when it has one (e.g. "frame 00042"), else the 1-based position,
    followed by the scene and weather its manifest records, if any ("frame 00042 · city, rain")."""
    frames = getattr(dataset, "frames", None)
    try:
        name = f"frame {frames[index]}" if frames is not None else f"frame {index + 1}"
    except (IndexError, KeyError, TypeError):
        return f"frame {index + 1}"
    manifest = getattr(dataset, "manifest", None)
    if isinstance(manifest, pd.DataFrame) and index < len(manifest):
        row = manifest.iloc[index]
        recorded = [str(row[column]) for column in ("scene", "weather")
                    if column in manifest.columns and isinstance(row[column], str) and row[column]]
        if recorded:
            name += " · " + ", ".join(recorded)
    return name


def draw_frame(axes: Sequence[Axes], image: Any, target: Any, class_map: ClassMap | str = "gta9",
               hidden: Sequence[int] = (), alpha: float = 0.5, title: str = "frame") -> None:
    """Three panels of one labelled frame: the image, its colour label, the label over the image."""
    class_map = get_class_map(class_map)
    picture, index = to_uint8_rgb(image), to_index(target)
    hidden_note = f" ({len(hidden)} class{'es' if len(hidden) != 1 else ''} hidden)" if hidden else ""
    _show_picture(axes[0], picture, title)
    _show_picture(axes[1], index_to_rgb(index, class_map), "colour label")
    _show_picture(axes[2], overlay(picture, index, class_map, alpha, hidden), f"overlay, α = {alpha:.2f}{hidden_note}")
    for ax in axes[:3]:  # pixel axes: the frame at the size the network sees it
        ax.set_axis_on()
        ax.set(xlabel="x (pixels)", ylabel="y (pixels)")


def _browser_figure(dataset: Any, indices: Sequence[int], class_map: ClassMap, hidden: Sequence[int] = (),
                    alpha: float = 0.5, suptitle: str = "Data set browser") -> Figure:
    frames = [dataset[i] for i in indices]
    first = to_uint8_rgb(frames[0][0])
    fig, axes = _panel_figure(len(frames), 3, first.shape[0] / first.shape[1], extra_height=1.2)
    for row, (index, (image, target)) in enumerate(zip(indices, frames)):
        draw_frame(axes[row], image, target, class_map, hidden, alpha, title=_frame_name(dataset, index))
    fig.suptitle(suptitle)
    add_legend(fig, class_map)
    return fig


def _class_toggles(class_map: ClassMap) -> tuple[list, Any]:
    """A checkbox per class next to a swatch of its colour; returns (checkboxes, grid widget)."""
    import ipywidgets as widgets

    checkboxes, cells = [], []
    for name, (r, g, b) in zip(class_map.class_names, class_map.display_colours):
        swatch = widgets.HTML(f'<span style="display:inline-block;width:14px;height:14px;margin-top:6px;'
                              f'background:rgb({r},{g},{b});border:1px solid grey"></span>')
        checkbox = widgets.Checkbox(value=True, description=name, indent=False,
                                    layout=widgets.Layout(width="150px"))
        checkboxes.append(checkbox)
        cells.append(widgets.HBox([swatch, checkbox]))
    grid = widgets.GridBox(cells, layout=widgets.Layout(grid_template_columns="repeat(5, 180px)"))
    return checkboxes, grid


def dataset_browser(dataset: Any, class_map: ClassMap | str | None = None, max_frames: int | None = None,
                    alpha: float = 0.5, static_frames: int = 3, interactive: bool | None = None,
                    one_per: str | None = None) -> Any:
    """Browse (image, target) frames: a frame slider, image / colour label / overlay, class toggles.

    `dataset` is indexable, giving (image 3×H×W in [0, 1], target H×W); its `.class_map` is used
    unless `class_map` is given. In a live notebook returns the displayed widget; otherwise a
    static Figure of `static_frames` frames spread over the data set, or, with `one_per` (a manifest
    column such as "scene") that the data set's manifest records, the first frame of each of its values.
    """
    class_map = class_map if class_map is not None else getattr(dataset, "class_map", None)
    if class_map is None:
        raise ValueError("dataset_browser: this data set has no .class_map; pass class_map= (e.g. 'gta9')")
    class_map = get_class_map(class_map)
    count = len(dataset) if max_frames is None else min(len(dataset), max_frames)
    if count == 0:
        raise ValueError("dataset_browser: the data set is empty; check its manifest and split")
    if not _use_widgets(interactive):
        grouped = _one_per_group(dataset, count, one_per)
        indices = grouped if grouped is not None else _spread_indices(count, static_frames)
        shown = f"one per {one_per}" if grouped is not None else f"{len(indices)} of {len(dataset)} frames"
        return _browser_figure(dataset, indices, class_map, alpha=alpha, suptitle=f"Data set browser: {shown}")
    import ipywidgets as widgets

    slider = widgets.IntSlider(value=1, min=1, max=count, description="frame", continuous_update=False)
    opacity = widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="overlay α",
                                  continuous_update=False)
    checkboxes, toggles = _class_toggles(class_map)

    def draw(frame: int, alpha: float, **shown: bool) -> None:
        hidden = [i for i in range(class_map.num_classes) if not shown[f"class_{i}"]]
        _show_figure(_browser_figure(dataset, [frame - 1], class_map, hidden, alpha,
                                     suptitle=f"Frame {frame} of {count}"))

    controls = {"frame": slider, "alpha": opacity, **{f"class_{i}": box for i, box in enumerate(checkboxes)}}
    browser = widgets.VBox([widgets.HBox([slider, opacity]), toggles, widgets.interactive_output(draw, controls)])
    return _show_widget(browser)


def _review_label_rgb(label: Any, class_map: ClassMap | None = None) -> np.ndarray | None:
    """Colour label for review: with a class map, its classes in their display colours; without, H×W×3
    stays and H×W Cityscapes labelIds get the Cityscapes palette."""
    if label is None:
        return None
    label = np.asarray(label)
    if class_map is not None:
        return index_to_rgb(label_to_index(label, class_map), class_map)
    if label.ndim == 2:
        palette = np.array(cityscapes_palette(), dtype=np.uint8).reshape(256, 3)
        return palette[label.astype(np.uint8)]
    return to_uint8_rgb(label)


def _black_name(labels: Sequence[Any]) -> str:
    """The legend name of black, which five Cityscapes ids share: the names of those present in the labelId
    labels (the bonnet's *ego vehicle* among them), or "unlabeled / void" where a colour label hides the ids."""
    present: set[int] = set()
    colour_labels = False
    for label in labels:
        if label is not None and np.asarray(label).ndim == 2:
            present |= set(np.unique(label).tolist())
        elif label is not None:
            colour_labels = True
    names = [("ego vehicle (bonnet)" if label.label_id == 1 else label.name) for label in CITYSCAPES_LABELS
             if label.colour == (0, 0, 0) and label.label_id in present]
    if not names:
        return "unlabeled / void"
    return " / ".join(names + (["void"] if colour_labels else []))


def _colour_handles(labels: Sequence[np.ndarray | None], unknown_shown: int = 3,
                    black_name: str = "unlabeled / void") -> list[Patch]:
    """Legend patches for every Cityscapes colour present in `labels`, most pixels first, black named
    `black_name`. Colours that another present one nearly equals (bus and train) carry their RGB value, so
    the legend tells them apart. Colours outside the table: the `unknown_shown` most frequent by value, the
    rest in one patch (a blurred or JPEG label holds thousands)."""
    names: dict[tuple[int, int, int], str] = {}
    for label in CITYSCAPES_LABELS:
        names.setdefault(label.colour, black_name if label.colour == (0, 0, 0) else label.name)
    counts: dict[tuple[int, int, int], int] = {}
    for label in labels:
        if label is None:
            continue
        colours, pixels = np.unique(label.reshape(-1, 3), axis=0, return_counts=True)
        for colour, number in zip(map(tuple, colours.tolist()), pixels.tolist()):
            counts[colour] = counts.get(colour, 0) + number
    ranked = sorted(counts, key=lambda colour: -counts[colour])
    known = [colour for colour in ranked if colour in names]
    unknown = [colour for colour in ranked if colour not in names]

    def label(colour: tuple[int, int, int]) -> str:
        close = any(other != colour and np.abs(np.subtract(other, colour)).sum() <= NEAR_COLOUR for other in known)
        return f"{names[colour]} {colour}" if close else names[colour]

    handles = [Patch(facecolor=_unit_rgb(colour), edgecolor="grey", label=label(colour)) for colour in known]
    handles += [Patch(facecolor=_unit_rgb(colour), edgecolor="grey", label=f"unknown colour {colour}")
                for colour in unknown[:unknown_shown]]
    if len(unknown) > unknown_shown:
        rest = len(unknown) - unknown_shown
        handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//",
                             label=f"{rest} more unknown colours ({sum(counts[c] for c in unknown[unknown_shown:])} px)"))
    return handles


def _draw_review_row(axes: Sequence[Axes], title: str, image: Any, label_rgb: np.ndarray | None, alpha: float) -> None:
    picture = None if image is None else to_uint8_rgb(image)
    for ax, panel in zip(axes, ("image", "label", "label over image")):
        ax.set(xlabel="x (pixels)", ylabel="y (pixels)")  # pixel axes, as in the data set browser
        ax.set_title(title if panel == "image" else panel, fontsize="medium")
    if picture is not None:
        axes[0].imshow(picture)
    if label_rgb is not None:
        axes[1].imshow(label_rgb, interpolation="nearest")
    if picture is None or label_rgb is None or picture.shape != label_rgb.shape:
        why = "unreadable" if picture is None or label_rgb is None else (
            f"sizes differ: image {picture.shape[1]}×{picture.shape[0]}, label {label_rgb.shape[1]}×{label_rgb.shape[0]}")
        axes[2].text(0.5, 0.5, why, ha="center", va="center", wrap=True, transform=axes[2].transAxes)
        axes[2].set_axis_off()
        for ax, missing in ((axes[0], picture is None), (axes[1], label_rgb is None)):
            if missing:
                ax.text(0.5, 0.5, "unreadable", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
        return
    blend = np.round((1 - alpha) * picture.astype(np.float32) + alpha * label_rgb.astype(np.float32))
    axes[2].imshow(blend.astype(np.uint8))


def _review_figure(frames: Sequence, indices: Sequence[int], class_map: ClassMap | None, alpha: float,
                   suptitle: str) -> Figure:
    shown = [(frames[i][0], frames[i][1], _review_label_rgb(frames[i][2], class_map)) for i in indices]
    sample = next((to_uint8_rgb(image) for _, image, _ in shown if image is not None), np.zeros((3, 4, 3)))
    fig, axes = _panel_figure(len(shown), 3, sample.shape[0] / sample.shape[1], extra_height=1.2)
    for row, (title, image, label_rgb) in enumerate(shown):
        _draw_review_row(axes[row], str(title), image, label_rgb, alpha)
    fig.suptitle(suptitle)
    if class_map is not None:
        add_legend(fig, class_map)
    else:
        handles = _colour_handles([label for _, _, label in shown], black_name=_black_name([frames[i][2] for i in indices]))
        fig.legend(handles=handles, title="label colours", loc="outside lower center",
                   ncol=min(len(handles), 4) or 1, fontsize="small")
    return fig


def review_browser(frames: Sequence, class_map: ClassMap | str | None = None, title: str = "Flagged frames",
                   alpha: float = 0.5, static_frames: int = 4, interactive: bool | None = None) -> Any:
    """Review frames one by one: `frames` is a list of (title, image, label) with a slider over them.

    Images or labels may be None (unreadable) or differ in size: the panel then says so. Without
    `class_map` a label is shown as it is (Cityscapes labelIds in their palette) and the legend names
    the Cityscapes colours present; with it, the label's ids or colours are read as that map's
    classes and shown in its display colours. Static fallback: the first `static_frames` frames.
    """
    if len(frames) == 0:
        raise ValueError("review_browser: no frames to review")
    class_map = get_class_map(class_map) if class_map is not None else None
    if not _use_widgets(interactive):
        shown = min(static_frames, len(frames))
        return _review_figure(frames, range(shown), class_map, alpha, f"{title}: {shown} of {len(frames)}")
    import ipywidgets as widgets

    slider = widgets.IntSlider(value=1, min=1, max=len(frames), description="frame", continuous_update=False)

    def draw(position: int) -> None:
        _show_figure(_review_figure(frames, [position - 1], class_map, alpha, f"{title}: {position} of {len(frames)}"))

    browser = widgets.VBox([slider, widgets.interactive_output(draw, {"position": slider})])
    return _show_widget(browser)


def _slider_values(spec: Any, count: int) -> list:
    """`count` values spread over a slider spec (min, max, step[, default]) or a list of options."""
    if isinstance(spec, list):
        return spec[:count]
    low, high, step = spec[:3]
    values = np.linspace(low, high, count)
    snapped = [low + round((value - low) / step) * step for value in values]
    if all(isinstance(v, int) for v in (low, high, step)):
        return [int(value) for value in snapped]
    return [round(float(value), 10) for value in snapped]


def _slider_default(spec: Any) -> Any:
    if isinstance(spec, list):
        return spec[0]
    if len(spec) == 4:
        return spec[3]
    return _slider_values(spec, 3)[1]


def _make_control(name: str, spec: Any) -> Any:
    import ipywidgets as widgets

    if isinstance(spec, list):
        return widgets.Dropdown(options=spec, value=spec[0], description=name)
    low, high, step = spec[:3]
    kind = widgets.IntSlider if all(isinstance(v, int) for v in (low, high, step)) else widgets.FloatSlider
    return kind(value=_slider_default(spec), min=low, max=high, step=step, description=name,
                continuous_update=False)


def slider_widget(function: Callable[..., Any], interactive: bool | None = None, static_values: int = 3,
                  **ranges: Any) -> Any:
    """Sliders for `function`'s keyword arguments: `name=(min, max, step[, default])` or `name=[options]`;
    other values are passed as they are. `function(**values)` draws a figure.

    Live: the widget, redrawn on each change. Static: a list of Figures, the first ranged argument
    at `static_values` values from min to max, the others at their defaults.
    """
    ranged = {name: spec for name, spec in ranges.items() if isinstance(spec, list) or
              (isinstance(spec, tuple) and len(spec) in (3, 4))}
    fixed = {name: value for name, value in ranges.items() if name not in ranged}
    if not ranged:
        raise ValueError("slider_widget needs at least one range, e.g. sigma=(0.5, 5.0, 0.5)")
    if not _use_widgets(interactive):
        varied, spec = next(iter(ranged.items()))
        defaults = {name: _slider_default(other) for name, other in ranged.items()}
        figures = []
        for value in _slider_values(spec, static_values):
            result = function(**{**fixed, **defaults, varied: value})
            figure = result if isinstance(result, Figure) else plt.gcf()
            if not figure.get_suptitle():
                figure.suptitle(f"{varied} = {value}")
            figures.append(figure)
        return figures
    import ipywidgets as widgets

    def draw(**values: Any) -> None:
        result = function(**fixed, **values)
        _show_figure(result if isinstance(result, Figure) else plt.gcf())

    controls = {name: _make_control(name, spec) for name, spec in ranged.items()}
    box = widgets.VBox([widgets.HBox(list(controls.values())), widgets.interactive_output(draw, controls)])
    return _show_widget(box)


# ---------------------------------------------------------------------------------------------
# Figures of single notebooks (01: label fit; 03: an untrained network's output)


def plot_alignment_fits(frames: Sequence[tuple[str, np.ndarray, np.ndarray, float]], thresholds: Any) -> Figure:
    """Per frame (title, image, label, sharpness): edge strength with the label boundaries, and the fit map over shifts.

    Shows what the misaligned and swapped checks of notebook 01 measure: a fitting label peaks
    sharply at shift (0, 0), a misaligned one elsewhere, another image's label nowhere.
    """
    from .cleaning import STATIC_IDS, edge_strength, fit_map, label_boundaries

    fig, axes = plt.subplots(2, len(frames), figsize=(5 * len(frames), 6.8), squeeze=False, layout="constrained")
    for column, (title, image, label, sharpness) in enumerate(frames):
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(np.clip(edge_strength(image), 0, 4), cmap="gray")
        ys, xs = np.nonzero(label_boundaries(label, STATIC_IDS))
        top.scatter(xs, ys, s=0.3, color="red", label="label boundaries")
        top.set(title=title, xlabel="x (pixels)", ylabel="y (pixels)")
        fit, reach = fit_map(image, label, thresholds)
        picture = bottom.imshow(fit, cmap="viridis", extent=(-reach, reach, reach, -reach))
        bottom.plot(0, 0, "+", color="red", markersize=14, markeredgewidth=2, label="shift (0, 0)")
        bottom.set(title=f"fit map: sharpness at 0 = {sharpness:.2f}", xlabel="label moved by dx (pixels)",
                   ylabel="label moved by dy (pixels)")
        fig.colorbar(picture, ax=bottom, label="mean edge strength under boundaries")
    handles = [plt.Line2D([], [], marker="o", markersize=5, color="red", linestyle="", label="label boundaries"),
               axes[1, 0].lines[0]]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize="small")
    fig.suptitle("Label boundaries against image edges")
    return fig


def plot_logits_and_probabilities(image: torch.Tensor, logits: torch.Tensor, class_map: ClassMap,
                                  pixel: tuple[int, int] | None = None,
                                  title: str = "A network's output: classes, confidence and one pixel") -> Figure:
    """An image, the argmax of C×H×W `logits`, the top softmax probability, and one pixel's logits and probabilities.

    Notebook 03 shows with it what an untrained network outputs: scattered classes, near-uniform probabilities.
    """
    row, col = pixel or (image.shape[1] // 2, image.shape[2] // 2)
    probabilities = logits.softmax(dim=0)
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.9), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.12)  # room between the colour bar and the bar chart's axis label
    axes[0].imshow(to_uint8_rgb(image))
    axes[0].plot(col, row, "+", color="red", markersize=14, markeredgewidth=2, label="pixel in the bar charts")
    axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), fontsize="small")
    axes[1].imshow(index_to_rgb(logits.argmax(dim=0).numpy(), class_map))
    shown = axes[2].imshow(probabilities.max(dim=0).values.numpy(), cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(shown, ax=axes[2], shrink=0.8, label="probability")
    for ax, panel in zip(axes[:3], ("image", "argmax of the logits", "top softmax probability")):
        ax.set(title=panel, xlabel="x (pixels)", ylabel="y (pixels)")
    colours = [_unit_rgb(colour) for colour in class_map.display_colours]
    positions = np.arange(class_map.num_classes)
    axes[3].bar(positions - 0.2, logits[:, row, col].numpy(), width=0.4, color=colours, edgecolor="black", hatch="//")
    axes[3].bar(positions + 0.2, probabilities[:, row, col].numpy(), width=0.4, color=colours, edgecolor="black")
    axes[3].axhline(1 / class_map.num_classes, color="grey", linestyle="--")
    axes[3].set_xticks(positions, [str(i) for i in positions])
    axes[3].set(xlabel="class", ylabel="logit or probability", title="one pixel: logits (hatched) and probabilities")
    legend_outside(axes[3], handles=[Patch(facecolor="white", edgecolor="black", hatch="//", label="logit"),
                                     Patch(facecolor="white", edgecolor="black", label="probability"),
                                     plt.Line2D([], [], color="grey", linestyle="--", label="uniform 1/C")])
    add_legend(fig, class_map)
    fig.suptitle(title)
    return fig
