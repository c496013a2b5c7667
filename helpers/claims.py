"""Claims in the notebooks' prose, checked against the results a run recorded.

The rule the notebooks follow (README, "For maintainers"):

- A sentence about this run's results is printed by a code cell, computed from what the notebook
  records, with a branch for each outcome that can happen.
- Markdown states a fact about the run only when it holds in every profile, and then carries a
  claim tag, `<!-- claim: EXPRESSION -->`: a Python expression over the notebook's recorded results
  (each key a name; `results`, `profile` and `earlier("NN_name")` too) that must be true. A number
  the cell states is vouched for when the same number appears in one of its claim expressions.
- Numbers of other runs sit in a blockquote that starts with **Reference run** and names the
  profile, the seed, the machine and the date.
- Method constants (β = 0.98 of a smoothing, the 10 % and 90 % of Smith's rule) are listed, with
  their reason, in `METHOD_CONSTANTS`.

`lint_notebook` finds the score-like numbers of the markdown (decimals, percentages, multiples such
as 3.8×, powers of ten) that are none of these, and incomplete reference boxes; `check_claims`
evaluates the claim tags against a run folder. `python -m helpers.claims RUN_DIR [NN …]` does both,
for instance on `runs/quick` after `make run`.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import math
import re
from pathlib import Path
from typing import Any

CLAIM = re.compile(r"<!--\s*claim:\s*(.*?)\s*-->", re.S)
"""A claim tag: `<!-- claim: test_miou > majority_baseline_miou -->`."""

SCORE_LIKE = re.compile(r"""(?<![\w.\-/#^§])(
      (?P<percent>\d+(?:\.\d+)?)\s?%                # 46 %, 99.7 %
    | (?P<times>\d+(?:\.\d+)?)\s?×(?!\s?\d)         # 3.8×, 25× (not 3×3 or 400×300)
    | (?P<scientific>\d+(?:\.\d+)?e[-+]?\d+)        # 1e-17
    | 10(?P<power>[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)                   # 10⁻⁵
    | (?P<decimal>\d+\.\d+)(?![\w.]*\d)              # 0.88, 2.197 (not a version such as 3.11.7)
)""", re.X)
"""Numbers that read like a measured result."""

NOT_PROSE = re.compile(r"```.*?```|`[^`]*`|<!--.*?-->|\]\([^)]*\)|\$[^$\n]*\$", re.S)
"""Code, comments (claim tags), link targets and formulas: not statements."""

SUPERSCRIPTS = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")

REFERENCE_FIELDS = {
    "profile": re.compile(r"\b(smoke|quick|full)\b\W{0,3}profile|profile\W{0,3}\b(smoke|quick|full)\b", re.I),
    "seed": re.compile(r"\bseeds?\b", re.I),
    "machine": re.compile(r"\b(CPU|GPU|machine|cores?)\b", re.I),
    "date": re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|"
                       r"December)\s+\d{4}\b|\b\d{4}-\d{2}(-\d{2})?\b"),
}
"""What a "Reference run" box must name: profile, seed, machine and date."""

METHOD_CONSTANTS: dict[str, dict[str, str]] = {
    "01_data_cleaning": {"0.5": "the default misaligned_gain threshold", "1.0": "the threshold of exercise 1"},
    "02_one_hot_encoding": {"16.7": "2²⁴ bytes in MB, the size of the lookup table"},
    "03_unet_build": {
        "18.75": "300 / 16", "4 ×": "weights, gradients and Adam's two averages", "2 ×": "activations and their "
        "gradients", "0.4": "the CUDA context in GiB, a rule of thumb", "0.11": "1/9, a uniform guess",
        "6×": "(160·120) / (400·300) pixels", "4×": "base 16 against base 64 channels",
        "25×": "6 × 4 rounded: pixels times channels", "16×": "4² weights for 4× the channels",
    },
    "04_overfit_one_image": {"2.197": "ln 9, the chance level", "10×": "the advice: lower the rate tenfold"},
    "05_lr_range_test": {
        "10⁻⁵": "start of the sweeps", "10⁻²": "example range end", "10⁻³": "example learning rates",
        "10⁻¹": "example range end", "10²": "end of the exponential sweeps", "0.98": "β of the smoothing", "0.9": "β for 50 batches; SGD's momentum",
        "10 %": "Smith's base: 10 % of the rise", "90 %": "Smith's max: 90 % of the rise",
        "2×": "a spread of two", "0.001": "the GTA report's start rate", "10×": "a factor of ten",
        "0.004": "a questionnaire example",
    },
    "06_scheduler_comparison": {"10⁻³": "the forest report's Adam rate for MSE",
                                "10⁻⁴": "the forest report's Adam rate for cross-entropy",
                                "0.02": "a questionnaire example"},
    "07_final_training": {"0.60": "the target mIoU, set in advance", "1e-10": "the ADE20K report's epsilon",
                          "0.4": "an IoU of a questionnaire example"},
    "08_skip_connection_ablation": {"2.3": "ΔE a person just notices (CIE76)", "95 %": "the bootstrap interval's level"},
    "09_gaussian_sobel_bonus": {
        "99.7 %": "the weight of a Gaussian within 3σ", "0.5": "the central-difference weights",
        "8 ×": "Sobel = 8 × (binomial blur ⊗ central difference)", "8×": "the same factor",
        "0.05": "the flatness threshold on the Sobel magnitude", "1e-17": "float64 rounding",
    },
}
"""Numbers of a notebook's markdown that are definitions or settings of the method, with the reason."""


def number_value(text: str) -> float:
    """The value of a score-like token: '46 %' → 46, '3.8×' → 3.8, '10⁻⁵' → 1e-05."""
    match = SCORE_LIKE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a score-like number")
    if match["power"]:
        return 10.0 ** int(match["power"].translate(SUPERSCRIPTS))
    return float(match["percent"] or match["times"] or match["scientific"] or match["decimal"])


def markdown_cells(notebook: dict[str, Any]) -> list[tuple[str, str]]:
    """(cell id, source) of every markdown cell of an nbformat notebook (JSON)."""
    return [(cell.get("id", str(number)), "".join(cell["source"]))
            for number, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "markdown"]


def blockquotes(source: str) -> list[str]:
    """The blockquotes of a markdown text, each as one string without the leading '>'."""
    quotes, current = [], []
    for line in source.splitlines() + [""]:
        if line.lstrip().startswith(">"):
            current.append(line.lstrip()[1:].strip())
        elif current:
            quotes.append("\n".join(current))
            current = []
    return quotes


def is_reference_box(quote: str) -> bool:
    """A blockquote whose first line says "Reference run(s)"."""
    return bool(re.search(r"reference runs?\b", quote.splitlines()[0] if quote else "", re.I))


def statements(source: str) -> str:
    """The prose of a markdown cell: without code, comments, link targets, formulas, reference boxes and
    the runtime line of the first cell (a measurement of the machine it names)."""
    kept, in_reference = [], False
    for line in NOT_PROSE.sub(" ", source).splitlines():
        quoted = line.lstrip().startswith(">")
        if quoted and is_reference_box(line.lstrip()[1:].strip()):
            in_reference = True
        in_reference = in_reference and quoted
        if not in_reference and not line.startswith("**Runtime**"):
            kept.append(line)
    return "\n".join(kept)


def claim_numbers(expressions: list[str]) -> list[float]:
    """Every number written in the claim expressions."""
    numbers = []
    for expression in expressions:
        try:
            tree = ast.parse(expression, mode="eval")
        except SyntaxError:
            continue
        numbers += [float(node.value) for node in ast.walk(tree)
                    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
                    and not isinstance(node.value, bool)]
    return numbers


def _covered(token: str, value: float, allowed: list[float]) -> bool:
    candidates = [value, value / 100] if token.rstrip().endswith("%") else [value]
    return any(math.isclose(candidate, number, rel_tol=1e-9, abs_tol=1e-12)
               for candidate in candidates for number in allowed)


def lint_markdown(source: str, constants: dict[str, str] | None = None) -> list[str]:
    """Problems of one markdown cell: untagged score-like numbers, incomplete reference boxes, bad claims."""
    problems = []
    expressions = CLAIM.findall(source)
    for expression in expressions:
        try:
            ast.parse(expression, mode="eval")
        except SyntaxError as error:
            problems.append(f"claim {expression!r} is not a Python expression ({error.msg})")
    allowed = claim_numbers(expressions) + [number_value(text) for text in (constants or {})]
    for match in SCORE_LIKE.finditer(statements(source)):
        token = match.group(1)
        if not _covered(token, number_value(token), allowed):
            start = max(0, match.start() - 40)
            context = " ".join(statements(source)[start:match.end() + 20].split())
            problems.append(f"{token!r} is stated without a claim tag, a reference box or a listed constant: "
                            f"…{context}…")
    for quote in blockquotes(source):
        if is_reference_box(quote):
            missing = [name for name, pattern in REFERENCE_FIELDS.items() if not pattern.search(quote)]
            if missing:
                problems.append(f"reference box without {', '.join(missing)}: {quote.splitlines()[0][:60]}…")
    return problems


def read_notebook(name: str) -> dict[str, Any]:
    from .workbook import NOTEBOOK_DIR

    return json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text(encoding="utf-8"))


def lint_notebook(name: str, notebook: dict[str, Any] | None = None) -> list[str]:
    """Problems of every markdown cell of notebook `name` (see `lint_markdown`), each naming its cell."""
    notebook = notebook if notebook is not None else read_notebook(name)
    constants = METHOD_CONSTANTS.get(name, {})
    return [f"{name} cell {cell_id}: {problem}" for cell_id, source in markdown_cells(notebook)
            for problem in lint_markdown(source, constants)]


def claims(notebook: dict[str, Any]) -> list[tuple[str, str]]:
    """(cell id, expression) of every claim tag in the markdown of a notebook."""
    return [(cell_id, expression) for cell_id, source in markdown_cells(notebook)
            for expression in CLAIM.findall(source)]


SAFE_BUILTINS = {name: getattr(builtins, name) for name in ("abs", "all", "any", "len", "max", "min", "round", "sorted", "sum", "set", "list",
                                                 "dict", "float", "int", "bool", "str", "zip", "range", "isinstance",
                                                 "enumerate")}


def evaluate_claim(expression: str, results: dict[str, Any], profile: str | None = None,
                   earlier=None) -> bool:
    """The truth of one claim expression over a notebook's recorded results (NameError for a key not recorded)."""
    names = {key: value for key, value in results.items() if key.isidentifier()}
    names.update(results=results, profile=profile, math=math, isclose=math.isclose,
                 earlier=earlier or (lambda name: {}))
    return bool(eval(compile(expression, "<claim>", "eval"), {"__builtins__": SAFE_BUILTINS}, names))  # noqa: S307


def check_claims(name: str, run_dir: str | Path, notebook: dict[str, Any] | None = None) -> list[str]:
    """The claim tags of notebook `name` that are false (or cannot be evaluated) on the results in `run_dir`."""
    from .workbook import read_results

    notebook = notebook if notebook is not None else read_notebook(name)
    results, stamp = read_results(Path(run_dir) / f"{name}.json")
    profile = (stamp or {}).get("profile")

    def earlier(other: str) -> dict[str, Any]:
        return read_results(Path(run_dir) / f"{other}.json")[0]

    problems = []
    for cell_id, expression in claims(notebook):
        try:
            holds = evaluate_claim(expression, results, profile, earlier)
        except Exception as error:  # a claim that cannot be evaluated is as wrong as a false one
            problems.append(f"{name} cell {cell_id}: claim {expression!r} cannot be evaluated "
                            f"({type(error).__name__}: {error})")
            continue
        if not holds:
            problems.append(f"{name} cell {cell_id}: claim {expression!r} is false in this run ({profile} profile)")
    return problems


def main(argv: list[str] | None = None) -> int:
    """python -m helpers.claims RUN_DIR [NN …]: lint the notebooks and check their claims on a run folder."""
    from .workbook import resolve_notebooks

    parser = argparse.ArgumentParser(prog="python -m helpers.claims", description=main.__doc__)
    parser.add_argument("run_dir", type=Path, help="a run folder, e.g. runs/quick")
    parser.add_argument("notebooks", nargs="*", help="notebook numbers or names (default: all)")
    arguments = parser.parse_args(argv)
    problems = []
    for name in resolve_notebooks(arguments.notebooks):
        problems += lint_notebook(name)
        if (arguments.run_dir / f"{name}.json").exists():
            problems += check_claims(name, arguments.run_dir)
        else:
            problems.append(f"{name}: no results in {arguments.run_dir}: its claims were not checked")
    print("\n".join(problems) or "every claim holds and every number is accounted for")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
