"""Experiment grids: the same training recipe over several settings and seeds, in one tidy table.

A comparison of optimizers, schedules or losses means something only when every run gets the
same data and the same budget, and when it is repeated over a few seeds: a difference between
two settings is shown only when it is clearly larger than the noise of their means. `run_grid` runs
`make_run(config, seed)` for every setting and seed (seeding everything first) and gathers one
row per run; `summarize` gives the mean and standard deviation over seeds; `paired_within_noise` says
whether two settings run with the same seeds differ by more than the noise of their per-seed
differences (two standard errors), `within_noise` the same for two independent sets of runs.

    grid = run_grid([{"optimizer": "sgd"}, {"optimizer": "adam"}], train_once, seeds=3)
    summary = summarize(grid, by="optimizer", metrics=["miou"])
    format_mean_std(summary, ["miou"])      # "0.612 ± 0.015" per optimizer
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from helpers.config import is_quiet, seed_everything

RESERVED = ("seed", "seconds", "error")


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """Seeds as a list: an int n means the seeds 0, 1, …, n-1."""
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ValueError(f"need at least one seed, got seeds={seeds}")
        return list(range(int(seeds)))
    chosen = [int(seed) for seed in seeds]
    if not chosen:
        raise ValueError("the list of seeds is empty")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"seeds must be distinct, got {chosen}")
    return chosen


def run_grid(
    configs: Sequence[Mapping[str, Any]],
    make_run: Callable[[dict, int], Mapping[str, Any]],
    seeds: int | Sequence[int] = 1,
    *,
    on_error: str = "raise",
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run `make_run(config, seed)` for every config and seed; one row per run.

    Each row holds the config's keys, `seed`, the keys `make_run` returned and `seconds` (wall
    time of the run, unless `make_run` reports its own). Everything is seeded with the run's seed
    before each call, so a row does not depend on the runs before it. Returned values that are not
    numbers (a training History, say) land in object columns: take them out with
    `grid.pop("history")`. `on_error="record"` keeps going when a run fails (a diverging learning
    rate, for instance) and writes the error message in an `error` column instead of raising.
    """
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    configs = [dict(config) for config in configs]
    if not configs:
        raise ValueError("no configurations to run: pass a list of dicts, one per setting")
    for config in configs:
        clash = sorted(set(config) & set(RESERVED))
        if clash:
            raise ValueError(f"config {config} uses reserved key(s) {clash}; rename them")
    seeds = seed_list(seeds)
    quiet = is_quiet() if progress is None else not progress

    rows = []
    runs = [(config, seed) for config in configs for seed in seeds]
    for config, seed in tqdm(runs, desc="grid", leave=False, disable=quiet):
        seed_everything(seed)
        started = time.perf_counter()
        try:
            result = dict(make_run(dict(config), seed))
        except Exception as error:  # noqa: BLE001 - recorded on request, re-raised otherwise
            if on_error == "raise":
                raise
            message = "".join(traceback.format_exception_only(type(error), error)).strip()
            result = {"error": message}
        clash = sorted((set(result) & set(config)) | ({"seed"} & set(result)))
        if clash:
            raise ValueError(f"make_run returned key(s) {clash} that are also config keys or 'seed'; rename them")
        result.setdefault("seconds", time.perf_counter() - started)
        rows.append({**config, "seed": seed, **result})

    grid = pd.DataFrame(rows)
    if "error" in grid:
        grid["error"] = grid["error"].fillna("")
    return grid


def summarize(grid: pd.DataFrame, by: str | Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each metric, one row per setting.

    Rows are indexed by the `by` columns, in the order the settings first appear in `grid`;
    columns are `<metric>_mean`, `<metric>_std` (sample std, ddof=1; NaN for a single run) and
    `runs` (the number of finite values counted for the first metric). NaN results (a failed run)
    are left out of the mean and std.
    """
    by = [by] if isinstance(by, str) else list(by)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    missing = [column for column in by + metrics if column not in grid.columns]
    if missing:
        raise ValueError(f"grid has no column(s) {missing}; available: {list(grid.columns)}")
    if not metrics:
        raise ValueError("name at least one metric to summarize")
    values = grid[by + metrics].copy()
    for metric in metrics:
        values[metric] = pd.to_numeric(values[metric], errors="coerce")
    groups = values.groupby(by, sort=False)
    summary = pd.DataFrame(index=groups.size().index)
    for metric in metrics:
        summary[f"{metric}_mean"] = groups[metric].mean()
        summary[f"{metric}_std"] = groups[metric].std(ddof=1)
    summary["runs"] = groups[metrics[0]].count()
    return summary


def format_mean_std(summary: pd.DataFrame, metrics: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """The summary as text, "mean ± std" per metric (for display)."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    table = pd.DataFrame(index=summary.index)
    for metric in metrics:
        means, stds = summary[f"{metric}_mean"], summary[f"{metric}_std"]
        table[metric] = [_mean_std_text(mean, std, digits) for mean, std in zip(means, stds)]
    if "runs" in summary:
        table["runs"] = summary["runs"]
    return table


def _mean_std_text(mean: float, std: float, digits: int) -> str:
    if not math.isfinite(mean):
        return "n/a"
    if not math.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def within_noise(summary: pd.DataFrame, metric: str, first: Hashable, second: Hashable) -> dict[str, Any]:
    """Compare two settings of a summary: their mean difference against its standard error.

    Returns `difference` (mean of `first` minus mean of `second`), `standard_error` of that
    difference, sqrt(s1²/n1 + s2²/n2) from the seeds' standard deviations (NaN when either
    setting has a single run), the two `runs` counts, and `within_noise`: True when
    |difference| < 2 standard errors. Such a difference is *not shown* to be real by these runs
    (it may still be: more seeds would tell). With a handful of seeds the standard errors are
    themselves rough, so 2 SE is a lenient bar, not a significance test.
    """
    for label in (first, second):
        if label not in summary.index:
            raise KeyError(f"{label!r} is not a row of the summary; rows: {list(summary.index)}")
    means = [float(summary.at[label, f"{metric}_mean"]) for label in (first, second)]
    stds = [float(summary.at[label, f"{metric}_std"]) for label in (first, second)]
    runs = [int(summary.at[label, "runs"]) if "runs" in summary else 0 for label in (first, second)]
    difference = means[0] - means[1]
    if all(math.isfinite(std) for std in stds) and all(count >= 2 for count in runs):
        standard_error = math.sqrt(sum(std**2 / count for std, count in zip(stds, runs)))
    else:
        standard_error = math.nan
    return {"difference": difference, "standard_error": standard_error, "runs": runs,
            "within_noise": bool(math.isfinite(standard_error) and abs(difference) < 2 * standard_error)}


def _runs_of(grid: pd.DataFrame, by: Sequence[str], setting: Hashable, column: str) -> pd.Series:
    """`column` of one setting's runs, indexed by seed (the setting is a value, or a tuple for several `by`)."""
    key = setting if isinstance(setting, tuple) else (setting,)
    if len(key) != len(by):
        raise ValueError(f"setting {setting!r} does not name one value per column of {list(by)}")
    chosen = np.logical_and.reduce([grid[column_name] == value for column_name, value in zip(by, key)])
    runs = grid[chosen]
    if runs.empty:
        raise KeyError(f"{setting!r} has no runs in the grid; settings: {sorted(set(map(tuple, grid[by].values)))}")
    return pd.to_numeric(runs.set_index("seed")[column], errors="coerce")


def paired_within_noise(grid: pd.DataFrame, by: str | Sequence[str], metric: str, first: Hashable,
                        second: Hashable) -> dict[str, Any]:
    """Compare two settings that ran with the same seeds: the mean of their per-seed differences against its standard error.

    A seed fixes the initial weights and the order of the batches, so two settings run with one seed
    share a lot of their luck; the per-seed differences d remove it, and their standard error
    sd(d)/√n is often far smaller than that of two independent means (`within_noise`), which
    counts that shared luck as noise. Returns `difference` (mean of d), `standard_error`
    (NaN with fewer than two shared seeds), `runs` (the shared seeds, twice: one count per
    setting), `seeds` and `within_noise` (|difference| < 2 standard errors), as `within_noise` does.
    """
    by = [by] if isinstance(by, str) else list(by)
    pairs = pd.concat([_runs_of(grid, by, first, metric), _runs_of(grid, by, second, metric)], axis=1,
                      join="inner").dropna()
    differences = (pairs.iloc[:, 0] - pairs.iloc[:, 1]).to_numpy(dtype=float)
    count = len(differences)
    difference = float(differences.mean()) if count else math.nan
    standard_error = float(differences.std(ddof=1) / math.sqrt(count)) if count >= 2 else math.nan
    return {"difference": difference, "standard_error": standard_error, "runs": [count, count],
            "seeds": [int(seed) for seed in pairs.index],
            "within_noise": bool(math.isfinite(standard_error) and abs(difference) < 2 * standard_error)}


def same_runs(grid: pd.DataFrame, by: str | Sequence[str], first: Hashable, second: Hashable,
              columns: Sequence[str]) -> bool:
    """True when two settings gave exactly the same `columns` with every seed: one run twice, not two runs.

    A plateau schedule that never lowered the rate trains exactly like no schedule; comparing a
    winner with its own copy says nothing about the runners-up.
    """
    by = [by] if isinstance(by, str) else list(by)
    for column in columns:
        ours, theirs = _runs_of(grid, by, first, column), _runs_of(grid, by, second, column)
        if sorted(ours.index) != sorted(theirs.index) or not ours.sort_index().equals(theirs.sort_index()):
            return False
    return True


def describe_winner(winner: str, mean: float, seeds: int, runner_up: str | None, verdict: Mapping[str, Any],
                    tied: Sequence[str] = (), identical: Sequence[str] = ()) -> str:
    """The sentences that say how far the winner's mean pseudo-test mIoU is ahead of the best distinct runner-up.

    `verdict` is `paired_within_noise(grid, by, "miou", winner, runner_up)`; `tied` names every distinct
    recipe within the noise of the winner, `identical` the recipes skipped as the winner's own runs
    again. Four outcomes: nothing to compare with, a lead within the noise, a clear lead, and no
    standard error (one seed per recipe).
    """
    lines = [f"Skipped as identical to the winner, seed for seed: {', '.join(identical)}."] if identical else []
    lead = f"{winner} has the best mean pseudo-test mIoU, {mean:.3f} over {seeds} seeds"
    if runner_up is None:
        lines.append(f"{lead}; no other distinct recipe ran, so there is nothing to compare it with.")
        return "\n".join(lines)
    ahead = f"{lead}, {verdict['difference']:.3f} ahead of {runner_up}"
    errors = f"standard errors of the per-seed differences (2 × {verdict['standard_error']:.2g})"
    if verdict["within_noise"]:
        lines.append(f"{ahead} on average over the seeds: less than two {errors}. These runs do not show that it is "
                     f"better: {len(tied)} recipe(s) are within the noise of it ({', '.join(tied)}). It is handed on "
                     "because the rule, fixed in advance, takes the best mean; any of those would be as defensible.")
    elif math.isfinite(verdict["standard_error"]):  # a standard error, and the lead is clear of twice it
        lines.append(f"{ahead} on average over the seeds: more than two {errors}, a lead these seeds show.")
    else:
        lines.append(f"{ahead}; with one seed per recipe there is no standard error, so nothing can be said about "
                     "noise.")
    return "\n".join(lines)


def failed_runs(grid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The grid without its `error` column, and the runs that failed with their message (a failure is shown, never hidden)."""
    if "error" not in grid:
        return grid, grid.iloc[:0].assign(error=pd.Series(dtype=str))
    errors = grid["error"].fillna("")
    return grid.drop(columns="error"), grid[errors != ""]


def plateau_reductions(grid: pd.DataFrame, schedule: str = "plateau") -> dict[str, tuple[int, int]]:
    """(runs whose rate was lowered, runs) per optimizer for `schedule`: a plateau that never fired equals no schedule."""
    runs = grid[grid.scheduler == schedule]
    return {name: (int((group.lr_last < group.lr_first).sum()), len(group))
            for name, group in runs.groupby("optimizer", sort=False)}


def curves_by_setting(grid: pd.DataFrame, by: Sequence[str], column: str) -> dict[str, np.ndarray]:
    """Per-epoch curves of the finished runs, as a runs × epochs array per setting ("MSE + SGD"), for mean ± std plots."""
    curves = {}
    for key, runs in grid.groupby(list(by), sort=False):
        finished = [values for values in runs[column] if isinstance(values, list)]
        if finished:
            name = " + ".join(str(part).upper() for part in (key if isinstance(key, tuple) else (key,)))
            curves[name] = np.asarray(finished, dtype=float)
    return curves


def dash_line(ax, label: str = "plateau") -> None:
    """Draw the curve named `label` dashed, so that a curve lying exactly on another stays visible.

    The legend's sample line is dashed in place: the legend keeps where the plot put it.
    """
    for line in ax.get_lines():
        if line.get_label().startswith(label):
            line.set_linestyle("--")
    legend = ax.get_legend()
    if legend is not None:
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            if text.get_text().startswith(label) and hasattr(handle, "set_linestyle"):
                handle.set_linestyle("--")


def label_log_ticks(ax) -> None:
    """Plain numbers on a log y axis, the minor ticks too when it spans less than a decade (else it shows no labels)."""
    from matplotlib.ticker import FormatStrFormatter

    ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    low, high = ax.get_ylim()
    if high / low < 10:
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))


def plot_epoch_curves(curves: Mapping[str, pd.Series], ylabel: str, title: str, ax) -> bool:
    """Per-epoch curves (one point per epoch, marked) on `ax`, with whole-number epochs; the y axis is
    logarithmic only when the values span more than a factor of 2 (a narrower range reads better on a
    linear one), and then " (log scale)" joins the title. Returns whether it is logarithmic."""
    from matplotlib.ticker import MaxNLocator

    from helpers.viz import plot_curves

    values = np.concatenate([np.asarray(curve, dtype=float) for curve in curves.values()] or [np.empty(0)])
    values = values[np.isfinite(values) & (values > 0)]
    log_scale = bool(values.size > 0 and values.max() / values.min() > 2)
    plot_curves(curves, "epoch", ylabel, title + (" (log scale)" if log_scale else ""), ax=ax, logy=log_scale)
    for line in ax.get_lines():
        line.set_marker("o")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log_scale:
        label_log_ticks(ax)
    return log_scale


def plot_grid_bars(summary: pd.DataFrame, grid: pd.DataFrame, optimizers: Sequence[str], schedulers: Sequence[str],
                   title: str, metric: str = "miou", ax=None):
    """Mean ± std of `metric` per optimizer × schedule as grouped bars, with every seed's run as a dot over its bar."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    width, positions = 0.8 / len(optimizers), np.arange(len(schedulers))
    for offset, optimizer in enumerate(optimizers):
        shift = (offset - (len(optimizers) - 1) / 2) * width
        rows = [(optimizer, schedule) for schedule in schedulers]
        stds = np.nan_to_num([summary.loc[row, f"{metric}_std"] for row in rows])  # one seed: no error bar
        ax.bar(positions + shift, [summary.loc[row, f"{metric}_mean"] for row in rows], width, yerr=stds,
               capsize=3, alpha=0.75, label=f"{optimizer.upper()} (mean ± std)")
        for position, schedule in zip(positions, schedulers):
            runs = grid[(grid.optimizer == optimizer) & (grid.scheduler == schedule)][metric]
            ax.plot(np.full(len(runs), position + shift), runs, "o", color="black", markersize=3,
                    label="one seed" if (offset, position) == (0, 0) else None)
    ax.set_xticks(positions, schedulers)
    ax.set(xlabel="learning-rate schedule", ylabel=f"{'mIoU' if metric == 'miou' else metric} on the pseudo-test split",
           title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def gap_text(gap: float) -> str:
    """A signed difference of two scores in words: 'ahead (+0.012)', 'behind (-0.004)' or 'level (+0.000)'."""
    return f"{'ahead' if gap > 0 else 'behind' if gap < 0 else 'level'} ({gap:+.3f})"


def interval_text(gap: Mapping[str, Any]) -> str:
    """A bootstrap 95 % interval of a difference (keys low, high, groups) and whether it excludes zero."""
    shown = gap["low"] > 0 or gap["high"] < 0
    return (f"95 % interval [{gap['low']:+.3f}, {gap['high']:+.3f}] over {gap['groups']} resampled sequences: "
            + ("these frames show a difference" if shown else "not shown to be a difference by these frames"))
