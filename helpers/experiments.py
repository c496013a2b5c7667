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

import contextlib
import dataclasses
import math
import time
import traceback
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from helpers.config import is_quiet, seed_everything

RESERVED = ("seed", "seconds", "error")
BARELY_TRAINED = 2 / 3  # a run whose training loss kept more than this share of its start barely trained


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
    can share much of their luck; the per-seed differences d then remove it, and their standard error
    sd(d)/√n is smaller than that of two independent means (`within_noise`), which counts that shared
    luck as noise. Pairing helps only as far as the luck is shared: var(d) = s₁² + s₂² − 2·r·s₁·s₂, with r
    the correlation of the two settings' scores over the seeds, so with r < 0 (a seed that favours one
    setting and not the other) the paired standard error is the larger. Returns `difference` (mean of d),
    `standard_error` (NaN with fewer than two shared seeds), `unpaired_standard_error` (√(s₁²/n + s₂²/n)
    over the same seeds), `correlation` (r; NaN with fewer than three shared seeds or a setting that did
    not vary), `runs` (the shared seeds, twice: one count per setting), `seeds` and `within_noise`
    (|difference| < 2 standard errors), as `within_noise` does.
    """
    by = [by] if isinstance(by, str) else list(by)
    pairs = pd.concat([_runs_of(grid, by, first, metric), _runs_of(grid, by, second, metric)], axis=1,
                      join="inner").dropna()
    differences = (pairs.iloc[:, 0] - pairs.iloc[:, 1]).to_numpy(dtype=float)
    count = len(differences)
    difference = float(differences.mean()) if count else math.nan
    standard_error = float(differences.std(ddof=1) / math.sqrt(count)) if count >= 2 else math.nan
    scores = pairs.to_numpy(dtype=float).T
    unpaired = float(math.sqrt(sum(row.var(ddof=1) for row in scores) / count)) if count >= 2 else math.nan
    varied = count >= 3 and all(np.ptp(row) > 0 for row in scores)
    correlation = float(np.corrcoef(scores)[0, 1]) if varied else math.nan
    return {"difference": difference, "standard_error": standard_error, "unpaired_standard_error": unpaired,
            "correlation": correlation, "runs": [count, count], "seeds": [int(seed) for seed in pairs.index],
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


def span_text(low: float, high: float) -> str:
    """"low–high" with as many decimals as tell them apart (at least 2): a narrow span is not rounded away."""
    decimals = max(2, 1 - math.floor(math.log10(high - low))) if high > low else 2
    return f"{low:.{decimals}f}–{high:.{decimals}f}"


def plot_epoch_curves(curves: Mapping[str, pd.Series], ylabel: str, title: str, ax) -> bool:
    """Per-epoch curves (one point per epoch, marked) on `ax`, with whole-number epochs; the y axis is
    logarithmic only when the values span more than a factor of 2 (a narrower range reads better on a
    linear one), and then " (log scale)" joins the title; the title also gives the values' span, so that two
    panels on different scales compare at a glance. Returns whether it is logarithmic."""
    from matplotlib.ticker import MaxNLocator

    from helpers.viz import plot_curves

    values = np.concatenate([np.asarray(curve, dtype=float) for curve in curves.values()] or [np.empty(0)])
    values = values[np.isfinite(values) & (values > 0)]
    log_scale = bool(values.size > 0 and values.max() / values.min() > 2)
    notes = (["log scale"] if log_scale else []) + ([f"values {span_text(values.min(), values.max())}"] if values.size
                                                     else [])
    plot_curves(curves, "epoch", ylabel, title + (f" ({', '.join(notes)})" if notes else ""), ax=ax, logy=log_scale)
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
            ax.plot(np.full(len(runs), position + shift + width / 4), runs, "o", markerfacecolor="white",
                    markeredgecolor="black", markersize=4, linestyle="none",
                    label="one seed" if (offset, position) == (0, 0) else None)  # hollow, beside the error bar
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


def range_test_evidence(min_div_10: float | None, linear_accuracy: Mapping[str, Sequence[float]] | None
                        ) -> dict[str, float]:
    """What notebook 05's range tests showed of one optimizer: the rate of the lowest loss of its exponential
    test (`min_div_10` × 10) and its linear test's best validation pixel accuracy with the rate it came at.
    Keys are absent when notebook 05 did not record them."""
    evidence = {}
    if min_div_10 is not None and math.isfinite(min_div_10):
        evidence["lowest_loss_lr"] = 10 * float(min_div_10)
    if linear_accuracy and linear_accuracy.get("pixel_accuracy"):
        accuracies = np.asarray(linear_accuracy["pixel_accuracy"], dtype=float)
        best = int(np.nanargmax(accuracies))
        evidence["best_accuracy"] = float(accuracies[best])
        evidence["best_accuracy_lr"] = float(linear_accuracy["lr"][best])
    return evidence


def share_text(share: float) -> str:
    """A share as a simple fraction when it is one ('2/3', '1/3', '1/4'), else as a percentage."""
    fraction = Fraction(share).limit_denominator(12)
    return f"{fraction.numerator}/{fraction.denominator}" if abs(float(fraction) - share) < 1e-9 else f"{share:.0%}"


def describe_rate_check(name: str, lr: float, kept: float, fraction: float | None, evidence: Mapping[str, float],
                        barely: float = BARELY_TRAINED, far: float = 3.0) -> str:
    """Whether one optimizer trained at its grid rate, and what its rows then measure.

    `kept` is its training loss at the end as a share of its start; above `barely` it barely trained (its loss
    fell, but by less than 1 − `barely`): the output states that cut-off.
    `fraction` is LR_FRACTION, None when the rate came from DEFAULT_LRS (notebook 05 had not run).
    `evidence` is `range_test_evidence` of notebook 05; a rate of 05's that is `far` times the grid's
    or more shows the optimizer training where the grid did not look. Three outcomes: it trained; it
    barely trained and 05 saw it train far higher (its rows rank schedules, not optimizers); it barely
    trained and 05 shows nothing higher.
    """
    label = name.upper()
    cut_off = share_text(barely)
    if kept <= barely:
        return (f"{label} trained at {lr:.2e}: its training loss kept {kept:.0%} of its start (this check's cut-off: "
                f"a run that keeps more than {cut_off} barely trained).")
    source = f"{fraction:g} × notebook 05's valley" if fraction is not None else "DEFAULT_LRS"
    lines = [f"{label} barely trained at {lr:.2e} ({source}): its training loss kept "
             f"{kept:.0%} of its start, more than this check's cut-off of {cut_off}: "
             + (f"it fell, but by less than {share_text(1 - barely)}." if kept < 1 else "it did not fall.")]
    higher = []
    if evidence.get("lowest_loss_lr", 0) >= far * lr:
        higher.append(f"the loss of its exponential test was lowest at {evidence['lowest_loss_lr']:.2e} "
                      f"({evidence['lowest_loss_lr'] / lr:.0f} × this rate)")
    if evidence.get("best_accuracy_lr", 0) >= far * lr:
        higher.append(f"its linear test reached validation pixel accuracy {evidence['best_accuracy']:.2f} at "
                      f"{evidence['best_accuracy_lr']:.2e} ({evidence['best_accuracy_lr'] / lr:.0f} × this rate)")
    if higher:
        lines.append(f"Notebook 05's {label} tests saw it train far higher: {'; '.join(higher)}. So the {label} rows "
                     f"below rank the schedules at a rate far below where {label} trains; they do not compare "
                     f"{label} with the other optimizer.")
    else:
        lines.append(f"Notebook 05 recorded no {label} reading far above this rate, so its rows below may reflect "
                     f"the rate more than {label} or the schedules.")
    lines.append(f"After the table, a second look retrains {label} at higher rates.")
    return " ".join(lines)


def probe_rates(grid_lr: float, valley: float | None, min_div_10: float | None, above: float = 1.5
                ) -> dict[str, float]:
    """Higher constant rates for a second look at an optimizer that barely trained at `grid_lr`.

    Notebook 05's readings of that optimizer: its valley (LR_FRACTION = 1), fastai's other rule, the rate
    of the lowest loss ÷ 10, and, when it lies above both, that lowest-loss rate itself (a run that
    diverges there is recorded as failed); only those at least `above` × the grid's rate. Without any
    (notebook 05 did not run, or its readings lie below), 4 × and 16 × the grid's rate.
    """
    readings = {"notebook 05's valley": valley, "05's lowest loss ÷ 10": min_div_10}
    rates = {rule: float(rate) for rule, rate in readings.items()
             if rate is not None and math.isfinite(rate) and rate >= above * grid_lr}
    if "05's lowest loss ÷ 10" in rates and 10 * rates["05's lowest loss ÷ 10"] > max(rates.values()):
        rates["05's lowest loss"] = 10 * rates["05's lowest loss ÷ 10"]
    return rates or {"4 × the grid's rate": 4 * grid_lr, "16 × the grid's rate": 16 * grid_lr}


def describe_shared_rate(range_test_lrs: Mapping[str, float | None], kept: Mapping[str, float] | None = None,
                         factor: float = 2.0, barely: float = BARELY_TRAINED) -> str:
    """A line when notebook 05's readings for two optimizers lie within `factor` of each other, else ''.

    Each optimizer then got nearly the same rate in the grid, so "each at its own rate" was, in this run,
    one rate for both, and one rate suits one optimizer more than another. `kept` (the training loss at
    the end as a share of its start, per optimizer; above `barely` it barely trained) says which: the ones
    that trained at it, none, or all of them; without it the line says only that the rate was shared.
    """
    known = {name: float(rate) for name, rate in range_test_lrs.items() if rate is not None and math.isfinite(rate)}
    if len(known) < 2 or max(known.values()) > factor * min(known.values()):
        return ""
    readings = " and ".join(f"{name.upper()}'s {rate:.2e}" for name, rate in known.items())
    lead = (f"Notebook 05's valleys, {readings}, lie within a factor of {factor:g} of each other: giving each "
            "optimizer its own rate gave both nearly the same rate in this run, so this grid in effect gave both one "
            "rate")
    shares = {name: float(kept[name]) for name in known if kept and name in kept and math.isfinite(kept[name])}
    if len(shares) < len(known):
        return f"{lead}, and one rate suits one optimizer more than another."
    trained = [name.upper() for name, share in shares.items() if share <= barely]
    barely_trained = [name.upper() for name, share in shares.items() if share > barely]
    losses = "training loss kept: " + ", ".join(f"{name.upper()} {share:.0%}" for name, share in shares.items())
    if trained and barely_trained:
        return (f"{lead}, which suits {' and '.join(trained)} here: {' and '.join(barely_trained)} barely trained "
                f"at it, above ({losses}).")
    if trained:
        return (f"{lead}, and both trained at it ({losses}): here the shared rate did not hold one of them back "
                "visibly, though each may still train better at a rate of its own.")
    return (f"{lead}, which suits neither here: both barely trained at it ({losses}), so the grid compares "
            "schedules at a rate too low for both.")


def probe_means(runs: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Rule → (rate, mean mIoU over the seeds) of one optimizer's second-look runs; NaN when any run failed."""
    return {rule: (float(rows["probe_lr"].iloc[0]),
                   float(rows["miou"].mean(skipna=False)) if "miou" in rows else math.nan)
            for rule, rows in runs.groupby("rule", sort=False)}


def rate_probe_verdicts(grid: pd.DataFrame, runs: pd.DataFrame, winner: tuple[str, str], name: str
                        ) -> tuple[dict[str, tuple[float, float]], dict[str, Any], dict[str, Any]]:
    """One optimizer's second look, read seed by seed: its `probe_means`, and two paired verdicts on mIoU —
    the best probe against the optimizer's constant rate in the grid, and the grid's winner against the best probe
    (empty when every probe failed). `grid` has optimizer / scheduler columns, `runs` a `rule` column."""
    probes = probe_means(runs)
    finite = [rule for rule in probes if math.isfinite(probes[rule][1])]
    if not finite:
        return probes, {}, {}
    best = max(finite, key=lambda rule: probes[rule][1])
    settings = pd.concat([grid[(grid.optimizer == winner[0]) & (grid.scheduler == winner[1])].assign(rule="winner"),
                          grid[(grid.optimizer == name) & (grid.scheduler == "none")].assign(rule="grid"), runs])
    return (probes, paired_within_noise(settings, "rule", "miou", best, "grid"),
            paired_within_noise(settings, "rule", "miou", "winner", best))


def flips_without_pairing(verdict: Mapping[str, Any]) -> bool:
    """Whether a `paired_within_noise` verdict would go the other way judged with the unpaired standard error."""
    unpaired = verdict.get("unpaired_standard_error", math.nan)
    return math.isfinite(unpaired) and (abs(verdict["difference"]) < 2 * unpaired) != verdict["within_noise"]


def describe_near_line(verdict: Mapping[str, Any], lead: str, near: float = 0.2) -> str:
    """A sentence when a paired verdict (`paired_within_noise`) sits within `near` standard errors of the line of 2,
    or would go the other way without pairing; '' otherwise. `lead` names what the difference measures."""
    difference, error = abs(verdict.get("difference", math.nan)), verdict.get("standard_error", math.nan)
    if not (math.isfinite(difference) and math.isfinite(error) and error > 0):
        return ""
    ratio, within = difference / error, verdict.get("within_noise", True)
    unpaired, flips = verdict.get("unpaired_standard_error", math.nan), flips_without_pairing(verdict)
    if abs(ratio - 2) > near and not flips:
        return ""
    side = "just inside" if within else "just past"
    shown = f"{ratio:.2f}" if round(ratio, 2) != 2 else f"{ratio:.3f}"  # 1.995 must not read as 2.00
    where = (f"{lead} is {shown} standard errors, {side} the line of 2" if abs(ratio - 2) <= near
             else f"{lead} is {shown} standard errors")
    if flips:
        correlation = verdict.get("correlation", math.nan)
        with_r = f", r {correlation:+.2f}" if math.isfinite(correlation) else ""
        where += (f"; without pairing (unpaired SE {unpaired:.3f}{with_r}) it would {'not ' if within else ''}be within "
                  "the noise")
    return f"{where[0].upper()}{where[1:]}: these seeds do not settle it."


def describe_rate_probe(name: str, grid_mean: float, probes: Mapping[str, tuple[float, float]], winner: str,
                        winner_mean: float, gain: Mapping[str, Any], verdict: Mapping[str, Any], epochs: int,
                        winners_optimizer: bool = False) -> str:
    """What retraining an optimizer that barely trained at higher rates says about the grid's ranking.

    `probes` maps each rule to (rate, mean mIoU over the seeds; NaN when its runs failed); `grid_mean`
    is the optimizer's constant-rate mean in the grid, `winner_mean` the grid winner's. `gain` is
    `paired_within_noise` of the best probe against the grid's constant rate, `verdict` of the winner
    against the best probe; both are printed with their standard errors. Outcomes: every probe failed; no
    probe did better than the grid's rate beyond the noise; the winner's own optimizer (rates, not optimizers);
    a probe above the winner beyond the noise; a probe within the noise of the winner (the winner is no longer
    shown ahead, which is not the same as level: the line gives how much of the grid's gap closed); the winner
    still ahead beyond the noise. In every outcome but the first, when the best mean came at the highest rate
    tried, that rate is not found and the line says the question is not settled. Keeping the best of several
    rates, picked and scored on one split, flatters the optimizer retried: the line says so where it bears
    on the conclusion.
    """
    label = name.upper()
    tried = ", ".join(f"{rate:.2e} ({rule}): " + (f"{mean:.3f}" if math.isfinite(mean) else "failed")
                      for rule, (rate, mean) in probes.items())
    lines = [f"{label} at a constant rate, mean pseudo-test mIoU over the seeds — in the grid: {grid_mean:.3f}; "
             f"at {tried}."]
    finite = {rule: (rate, mean) for rule, (rate, mean) in probes.items() if math.isfinite(mean)}
    if not finite:
        lines.append(f"Every higher rate failed: the grid's rate was not too low for {label}, the higher ones too high.")
        return " ".join(lines)
    best_rule = max(finite, key=lambda rule: finite[rule][1])
    best_rate, best_mean = finite[best_rule]
    rise, gap, grid_gap = best_mean - grid_mean, winner_mean - best_mean, winner_mean - grid_mean
    gain_se, gap_se = gain.get("standard_error", math.nan), verdict.get("standard_error", math.nan)
    at_top = best_rate >= max(rate for rate, _ in probes.values())
    picked = (f"The best of {len(probes)} rates tried was kept, picked and scored on the same pseudo-test split, so "
              f"its mean leans high: this favours {label}." if len(probes) > 1 else "")

    def unsettled(then: str) -> str:
        """The clause for a best mean at the highest rate tried, or ''."""
        if not at_top:
            return ""
        trend = "still rising" if rise > 0 else "best"
        return (f"{label}'s mean was {trend} at the highest rate tried ({best_rate:.2e}): not settled. These runs do "
                f"not find {label}'s best rate, and a higher one {then}.")

    handed_on = ("The recipe handed on stays the grid's winner — the rule was fixed before looking, and this second "
                 "look tried only constant rates — but exercise 5 re-runs the whole grid with LR_FRACTION = 1.")
    if rise <= 0 or gain.get("within_noise", True):
        lines += [f"No higher rate did better than the grid's beyond the noise (best {rise:+.3f} ± {gain_se:.3f} (SE), "
                  f"at {best_rate:.2e}): in {epochs} epochs the rate is not shown to be what held {label} back.",
                  unsettled("may still do better")]
    elif winners_optimizer:
        verb = "beat" if best_mean > winner_mean and not verdict.get("within_noise", True) else "did not clearly beat"
        lines += [f"{label} is the winner's own optimizer, so this compares rates, not optimizers: at {best_rate:.2e} "
                  f"it {verb} the winner {winner} ({best_mean:.3f} against {winner_mean:.3f}; {-gap:+.3f} ± "
                  f"{gap_se:.3f} (SE)).", picked, unsettled("may serve it better still"),
                  "The recipe handed on stays the grid's winner; exercise 5 re-runs the whole grid with "
                  "LR_FRACTION = 1."]
    elif verdict.get("within_noise") or best_mean >= winner_mean:
        reached = (f"At {best_rate:.2e} {label} reached {best_mean:.3f}, {rise:+.3f} ± {gain_se:.3f} (SE) over the "
                   "grid's rate")
        if best_mean > winner_mean and not verdict.get("within_noise"):
            lines.append(f"{reached}, and {-gap:.3f} ± {gap_se:.3f} above the winner {winner} ({winner_mean:.3f}), "
                         f"beyond two standard errors: these runs show {label} ahead of {winner}, so the grid's gap "
                         f"({grid_gap:.3f}) came from {label}'s rate, not from {label}.")
            then = "may do better still"
        elif gap <= 0:
            lines.append(f"{reached}, {-gap:.3f} ± {gap_se:.3f} above the winner {winner} ({winner_mean:.3f}), within "
                         f"two standard errors (2 × {gap_se:.3f}): these runs no longer show {winner} ahead of "
                         f"{label}; the grid's gap ({grid_gap:.3f}) closed at this rate, though within the noise means "
                         "not shown either way, not level.")
            then = "may do better still"
        else:
            share = rise / grid_gap
            lines.append(f"{reached}; the winner {winner} ({winner_mean:.3f}) is {gap:.3f} ± {gap_se:.3f} ahead, "
                         f"within two standard errors (2 × {gap_se:.3f}): these runs no longer show {winner} ahead of "
                         f"{label}. {'Most' if share >= 0.5 else 'Part'} of the grid's gap ({grid_gap:.3f} → "
                         f"{gap:.3f}, {share:.0%} of it) came from {label}'s rate. Within the noise means not shown, "
                         f"not level: {label}'s mean is still {gap:.3f} below the winner's.")
            then = "may close the rest of the gap"
        lines += [picked, unsettled(then), handed_on]
    else:
        lines.append(f"A higher rate lifts {label} by {rise:+.3f} ± {gain_se:.3f} (SE) (best at {best_rate:.2e}), yet "
                     f"the winner {winner} stays {gap:.3f} ahead, beyond two standard errors of the per-seed "
                     f"differences (2 × {gap_se:.3f})" + (f", even with the best of {len(probes)} rates kept, picked and "
                                                        f"scored on the same split, which favours {label}"
                                                        if picked else "") + ".")
        if at_top:
            lines += [unsettled("may let it catch up"),
                      "The ranking of the optimizers holds only for the rates tried, not for the optimizers."]
        else:
            lines.append(f"At this budget of {epochs} epochs {label} is behind at every rate tried, and the rates "
                         f"tried above {best_rate:.2e} did worse or failed, so, for the rates tried, the ranking of the "
                         "optimizers stands. It is a ranking at this budget: exercise 1 doubles the epochs.")
    near_line = [describe_near_line(gain, "the best rate's lead over the grid's rate"),
                 describe_near_line(verdict, f"the gap between {winner} and {label} at {best_rate:.2e}")]
    lines[2:2] = near_line  # right after the verdicts they qualify
    return " ".join(line for line in lines if line)


def describe_why_winner(winner: str, ends_low: bool, last_epoch_fall: float, epochs: int, final_epochs: int,
                        falling: float = 0.02, noisy_low_enders: Sequence[str] = ()) -> str:
    """Why the winner may have won this grid, from how the loss ended: still falling, or levelled off.

    `last_epoch_fall` is the median share by which the runs' training loss fell over their last epoch
    (above `falling`: still falling); `ends_low` whether the winner ends the run well below its rate.
    Five outcomes: too few epochs to tell, and {still falling, levelled off} × {ends high, ends low}.
    `noisy_low_enders` names the recipes ending at a low rate whose gap to the winner is within the noise: then
    the argument only could explain the lead, which these runs do not show.
    """
    if epochs < 2 or not math.isfinite(last_epoch_fall):
        return f"With {epochs} epoch(s) per run there is no last-epoch fall of the loss to read."
    fall = f"the training loss fell a median {last_epoch_fall:.0%} over the last of {epochs} epochs"
    later = (f" Notebook 07 trains this winner for {final_epochs} epochs, where this argument may no longer hold: "
             "a run that long may reach its floor, where a schedule that ends low could do better; notebook 07 "
             "shows how its run ended. The recipe is still the grid's winner, by the rule fixed in advance."
             if final_epochs > epochs else "")
    if last_epoch_fall > falling and not ends_low:
        why = (f"which would explain why {winner} leads; but its lead over {' and '.join(noisy_low_enders)} is "
               "within the noise, so these runs do not show that it does" if noisy_low_enders
               else f"which is why {winner} won here")
        return (f"In this short grid the loss was still falling at the end ({fall}): a schedule that spends the end "
                f"of a run at low rates gives up progress that a rate held high still makes, {why}. Annealing pays off once a run nears its floor; exercise 1 doubles the epochs." + later)
    if last_epoch_fall > falling:
        return (f"The loss was still falling at the end ({fall}), yet {winner}, which ends at a low rate, won: "
                "the calm end helped even before the loss levelled off.")
    if ends_low:
        return (f"The loss had levelled off by the end ({fall}): a schedule that ends at a low rate could settle, "
                f"and {winner} is one of them.")
    return (f"The loss had levelled off by the end ({fall}), and still {winner}, which ends at a high rate, won: "
            "the low-rate ends did not help in this grid.")


def describe_cyclic_run(name: str, rates: Sequence[float], cycles: int, top: float) -> str:
    """What a cyclic schedule did in one run: its whole cycles, its first, highest and last batch rates.

    `rates` are the rates of the run's batches, `top` the triangle's top (`max_lr`). A cycle of an odd number of
    batches puts its top half-way between two batches, so no batch runs at it; the line says so rather than
    calling a lower rate the peak.
    """
    per_cycle = len(rates) / cycles
    highest = max(rates)
    if math.isclose(highest, top, rel_tol=1e-6):
        peak = f"highest batch at {highest:.2e}, the top of the triangle"
    else:
        peak = (f"highest batch at {highest:.2e} (the top of the triangle, {top:.2e}, falls between two batches: "
                f"half a cycle is {per_cycle / 2:g} batches)")
    return (f"{name} + cyclic: {cycles} whole cycle(s) of {per_cycle:g} batches; first batch at {rates[0]:.2e} (the "
            f"base), {peak}, last batch at {rates[-1]:.2e}, one step above the base it returns to")


def verdict_lines(winner: str, verdicts: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per distinct recipe: the winner's mean per-seed lead over it ± its paired standard error, the
    unpaired standard error and the per-seed correlation beside it, and whether that lead is within the noise
    (less than two paired standard errors)."""
    lines = []
    for name, verdict in verdicts.items():
        noise = ("no standard error (one seed)" if not math.isfinite(verdict["standard_error"])
                 else "yes" if verdict["within_noise"] else "no")
        beside = ""
        if math.isfinite(verdict.get("unpaired_standard_error", math.nan)):
            correlation = verdict.get("correlation", math.nan)
            beside = (f" (unpaired {verdict['unpaired_standard_error']:.3f}"
                      + (f", seed correlation {correlation:+.2f}" if math.isfinite(correlation) else "") + ")")
        lines.append(f"{winner} − {name}: {verdict['difference']:+.3f} ± {verdict['standard_error']:.3f} (SE)"
                     f"{beside} → within noise: {noise}")
    return lines


def describe_pairing(verdicts: Mapping[str, Mapping[str, Any]]) -> str:
    """Which comparisons pairing by seed made sharper and which it made blunter, and why, from the per-seed
    correlations: pairing removes the luck two recipes share (r > 0) and adds the luck they split (r < 0).

    `verdicts` maps a name to `paired_within_noise(...)`. Outcomes: no standard errors (empty string); pairing
    smaller for every comparison; larger for every one; smaller for some and larger for others.
    """
    readable = {name: verdict for name, verdict in verdicts.items()
                if math.isfinite(verdict["standard_error"])
                and math.isfinite(verdict.get("unpaired_standard_error", math.nan))}
    if not readable:
        return ""
    smaller = [name for name, verdict in readable.items()
               if verdict["standard_error"] < verdict["unpaired_standard_error"]]
    larger = [name for name in readable if name not in smaller]

    def listed(names: Sequence[str]) -> str:
        shown = []
        for name in names:
            verdict = readable[name]
            correlation = verdict.get("correlation", math.nan)
            shown.append(f"{name} ({verdict['standard_error']:.3f} against {verdict['unpaired_standard_error']:.3f}"
                         + (f", r {correlation:+.2f}" if math.isfinite(correlation) else "") + ")")
        return ", ".join(shown)

    shared = ("where the seeds' luck was shared (r > 0: a seed that favoured one recipe favoured the other too), "
              "the differences cancel it")
    split = ("where a seed favoured one recipe and not the other (r < 0), the differences "
             "add that luck up instead")
    if not larger:
        return (f"Pairing by seed made the standard error smaller in all {len(smaller)} comparison(s), as for "
                f"{listed(smaller[:1])}: {shared}.")
    if not smaller:
        return (f"Pairing by seed made the standard error larger in every comparison, {listed(larger)}: {split}; "
                "here the unpaired standard error would have been the sharper test.")
    return (f"Pairing by seed made the standard error smaller in {len(smaller)} of {len(readable)} comparisons"
            f", as for {listed(smaller[:1])}, and larger for {listed(larger)}: {shared}; {split}.")


def describe_verdict_caveats(verdicts: Mapping[str, Mapping[str, Any]], marginal: float = 2.5) -> str:
    """What the verdicts of `verdict_lines` do not say: they do not rank the recipes among themselves, and some sit
    close to the line.

    `verdicts` maps a name to `paired_within_noise(winner, name)`. Three remarks, each when it applies: a recipe
    further behind the winner is within the noise while one closer to it is not (each lead is weighed against the
    scatter of its own per-seed differences); a lead shown by less than `marginal` standard errors; a verdict that
    pairing decided (without it, with the unpaired standard error, it would go the other way). '' when none applies.
    """
    readable = {name: verdict for name, verdict in verdicts.items() if math.isfinite(verdict["standard_error"])}
    lines = []
    for name, verdict in readable.items():
        further = [other for other, theirs in readable.items()
                   if theirs["within_noise"] and theirs["difference"] > verdict["difference"]]
        if not verdict["within_noise"] and further:
            other = max(further, key=lambda key: readable[key]["difference"])
            theirs = readable[other]
            lines.append(f"{other} is further behind the winner ({theirs['difference']:.3f}) than {name} "
                         f"({verdict['difference']:.3f}), yet it is within the noise and {name} is not: each lead is "
                         "weighed against the scatter of its own per-seed differences (± "
                         f"{theirs['standard_error']:.3f} against ± {verdict['standard_error']:.3f}), so the "
                         f"verdicts do not say that {name} is worse than {other}.")
    for name, verdict in readable.items():
        ratio = abs(verdict["difference"]) / verdict["standard_error"] if verdict["standard_error"] > 0 else math.inf
        seeds = verdict.get("runs", [0])[0]
        close = not verdict["within_noise"] and ratio < marginal
        unpaired, flips = verdict.get("unpaired_standard_error", math.nan), flips_without_pairing(verdict)
        without = (f"without pairing it would {'not ' if verdict['within_noise'] else ''}be within the noise "
                   f"({abs(verdict['difference']):.3f} {'≥' if verdict['within_noise'] else '<'} 2 × {unpaired:.3f})")
        if close:
            lines.append(f"The verdict on {name} is marginal: the winner's lead is {ratio:.1f} standard errors, just "
                         f"past the line of 2, on {seeds} seeds" + (f"; {without}." if flips else "."))
        elif flips:
            lines.append(f"The verdict on {name} rests on the pairing: {without}.")
    return "\n".join(lines)


def describe_loss_comparison(verdicts: Mapping[str, Mapping[str, Any]]) -> str:
    """Which forest loss came out ahead with each optimizer, and whether the textbook case for BCE held.

    `verdicts` maps an optimizer's name to `paired_within_noise(..., ("bce", name), ("mse", name))`
    (difference = BCE − MSE). Outcomes: BCE ahead beyond the noise with every optimizer (borne out),
    MSE ahead beyond it with some (not borne out), otherwise not shown either way.
    """
    parts, outcomes = [], []
    for name, verdict in verdicts.items():
        ahead, behind = ("BCE", "MSE") if verdict["difference"] > 0 else ("MSE", "BCE")
        noise = "within the noise" if verdict["within_noise"] else "more than two standard errors"
        parts.append(f"with {name.upper()}, {ahead} ahead of {behind} by {abs(verdict['difference']):.3f} mIoU "
                     f"({noise})")
        outcomes.append("noise" if verdict["within_noise"] else ahead)
    if all(outcome == "BCE" for outcome in outcomes):
        verdict_text = "the textbook case for BCE was borne out with every optimizer"
    elif "MSE" in outcomes:
        verdict_text = "the textbook case for BCE was not borne out here"
    else:
        verdict_text = "these runs do not show BCE's textbook advantage"
    found = "; ".join(parts)
    confound = []
    if "sgd" in verdicts:
        confound.append("with SGD, BCE's larger gradients take larger steps at one rate, so part of that difference "
                        "may be the step size")
    if "adam" in verdicts:
        confound.append("Adam divides each step by the running size of its gradients, so for Adam the comparison is "
                        "nearly free of that confound")
    return (f"{found[0].upper()}{found[1:]}: {verdict_text}. Both losses ran at one rate per optimizer: "
            + "; ".join(confound) + ".")


@dataclasses.dataclass
class Timing:
    """Seconds a block took (`timed`): `wall` on the clock, `cpu` of this process's own work. Other programs
    sharing the machine stretch the wall time, not the CPU time."""

    wall: float = math.nan
    cpu: float = math.nan


@contextlib.contextmanager
def timed() -> Iterator[Timing]:
    """Time the block inside `with timed() as timing:`; `timing.wall` and `timing.cpu` are set when it ends."""
    timing = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield timing
    finally:
        timing.wall, timing.cpu = time.perf_counter() - wall, time.process_time() - cpu


def conv_multiply_adds(model, height: int, width: int, channels: int = 3) -> int:
    """Multiply-adds of every convolution (and transposed convolution) of `model` in one forward pass of one
    `channels`×`height`×`width` frame: the bulk of a U-Net's arithmetic, counted with forward hooks."""
    import torch

    total = 0

    def count(module, inputs, output) -> None:
        nonlocal total
        per_weight = math.prod(module.kernel_size) // module.groups
        if isinstance(module, torch.nn.ConvTranspose2d):  # each input value meets out_channels kernels
            total += inputs[0].numel() * module.out_channels * per_weight
        else:  # each output value sums in_channels kernels
            total += output.numel() * module.in_channels * per_weight

    hooks = [module.register_forward_hook(count) for module in model.modules()
             if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, channels, height, width))
        model.train(was_training)
    finally:
        for hook in hooks:
            hook.remove()
    return total


def describe_forest_cost(forest: Timing, forest_runs: int, forest_batches: int, street: Timing, street_runs: int,
                         street_batches: int, conv_share: float | None = None, uneven: float = 1.15,
                         near: float = 1.25, threads: int = 1) -> str:
    """What a forest run cost against a run of the street grid, per run and per training batch, in wall-clock and
    CPU time, and what a difference between the two ratios means.

    `*_batches` are the training batches of one run; a run's time also holds its validation passes, so the time
    per training batch counts them too. Each section's clock time over its CPU time says how long it waited for the
    processor: when one section's is `uneven` times the other's or more, the machine was busier while it ran, and
    the CPU time is the fair comparison; otherwise the load was about even. With more than one `threads`, CPU time
    adds up over the threads, so that ratio also measures how well a section's work spreads over them (small
    tensors spread worse) and is not read as load. `conv_share` is a forest frame's
    convolution multiply-adds as a share of a street frame's (`conv_multiply_adds`); the CPU ratio per batch is
    then set against it: more than `near` times it, about it, or less.
    """
    def per_run(timing: Timing, runs: int, batches: int) -> str:
        return (f"{timing.wall / runs:.1f} s on the clock, {timing.cpu / runs:.1f} s of CPU time "
                f"({batches} training batches, {1000 * timing.cpu / runs / batches:.0f} ms of CPU per training batch, "
                "validation included)")

    wall = (forest.wall / forest_runs) / (street.wall / street_runs)
    cpu = (forest.cpu / forest_runs) / (street.cpu / street_runs)
    batch = cpu * street_batches / forest_batches
    forest_wait, street_wait = forest.wall / forest.cpu, street.wall / street.cpu  # clock time per CPU second
    waits = {"forest runs": forest_wait, "street grid's runs": street_wait}
    lines = [f"Per run: forest {per_run(forest, forest_runs, forest_batches)}; street grid "
             f"{per_run(street, street_runs, street_batches)}."]
    took = (f"on the clock the forest runs took {forest_wait:.2f} × their CPU time, the street grid's runs "
            f"{street_wait:.2f} ×")
    if threads > 1:
        lines.append(f"A forest run cost {cpu:.2f} × a street run in CPU time and {wall:.2f} × on the clock: {took}; "
                     f"with {threads} threads, CPU time adds up over the threads, so these also measure how well each "
                     "section's work spreads over them, not only the machine's load. The CPU time is the fair "
                     "comparison of the work.")
    elif max(waits.values()) >= uneven * min(waits.values()):
        busier = max(waits, key=waits.get)
        lines.append(f"A forest run cost {cpu:.2f} × a street run in CPU time but {wall:.2f} × on the clock: {took}, so "
                     f"the {busier} waited more for the processor and the machine was busier while they ran (other "
                     "programs share its cores). The CPU time is the fair comparison of the work.")
    else:
        lines.append(f"A forest run cost {cpu:.2f} × a street run in CPU time and {wall:.2f} × on the clock: {took}, "
                     f"within {uneven - 1:.0%} of each other, so the machine's load was about even over both.")
    per_batch = f"Per training batch (validation included) the forest took {batch:.2f} × the street's CPU time"
    if conv_share is None or not math.isfinite(conv_share):
        lines.append(per_batch + ".")
    else:
        if batch > near * conv_share:
            reading = ("more than its share of the convolution work (on tensors this small, the fixed cost of each "
                       "layer and the work around the convolutions weigh more)")
        elif batch < conv_share / near:
            reading = "less than its share of the convolution work"
        else:
            reading = "about its share of the convolution work"
        lines.append(f"{per_batch}, against {conv_share:.2f} × its convolution multiply-adds per frame: {reading}.")
    return " ".join(lines)


def describe_widest_spread(summary: pd.DataFrame, grid: pd.DataFrame, by: Sequence[str], metric: str = "miou",
                           wider: float = 3.0) -> str:
    """Which setting's `metric` scatters most over the seeds, and its worst seed, when its standard deviation is
    `wider` times the next widest or more; otherwise that the settings scatter alike."""
    spreads = summary[f"{metric}_std"].dropna().sort_values(ascending=False)
    if len(spreads) < 2:
        return ""
    key, next_key = spreads.index[0], spreads.index[1]
    name = " + ".join(str(part).upper() for part in np.atleast_1d(key))
    if spreads.iloc[0] < wider * spreads.iloc[1]:
        return (f"The settings scatter alike over the seeds: the widest standard deviation, {name}'s "
                f"{spreads.iloc[0]:.3f}, is less than {wider:g} × the next ({spreads.iloc[1]:.3f}).")
    runs = _runs_of(grid, by, key, metric)
    worst = runs.idxmin()
    return (f"{name} scatters most over the seeds: standard deviation {spreads.iloc[0]:.3f}, "
            f"{spreads.iloc[0] / spreads.iloc[1]:.0f} × the next widest "
            f"({' + '.join(str(part).upper() for part in np.atleast_1d(next_key))}, {spreads.iloc[1]:.3f}); its worst "
            f"seed, {worst}, ended at {runs[worst]:.3f} {'mIoU' if metric == 'miou' else metric} against a mean of "
            f"{runs.mean():.3f}.")
