"""The questionnaire at the end of each notebook: the answers that can be checked, and `check_answers`.

Open questions (why, explain) have no entry here: answer them in words, then compare with the
notebook. A checkable answer is a value, or a function of what the notebook recorded in this run
(the reader's own run decides it). Try the questions before reading this file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    """The expected answer (a value, or a function of the notebook's recorded results) and how close counts.

    `also` lists other phrasings that count as the same answer ("after each batch" for "batch").
    """

    expected: Any | Callable[[dict[str, Any]], Any]
    rel_tol: float = 0.01
    abs_tol: float = 1e-9
    also: tuple = ()


def _name_of_largest(values: list, names: tuple[str, ...]) -> str:
    return names[max(range(len(values)), key=lambda i: values[i])]


GTA9_NAMES = ("everything else", "curb", "road", "cars", "trucks", "motorcycle", "humans", "busses", "tram/train")

ANSWERS: dict[str, dict[int, Answer]] = {
    "00_getting_started": {
        2: Answer(("smoke", "quick")),
        3: Answer(lambda r: (r["num_frames"], r["num_sequences"])),
        5: Answer("humans"),
        6: Answer(255),
        7: Answer((9, 19)),
    },
    "01_data_cleaning": {
        2: Answer(lambda r: r["shift_changed_share"], rel_tol=0.05),
        3: Answer("precision"),
        5: Answer(lambda r: r["frames"] - r["clean_frames"]),
        7: Answer(lambda r: r["leak_same_sequence_share_random"], rel_tol=0.0, abs_tol=0.02),
    },
    "02_one_hot_encoding": {
        2: Answer(2**24),
        3: Answer(142),
        5: Answer(36),
        6: Answer(lambda r: _name_of_largest(r["class_weights"], GTA9_NAMES)),
    },
    "03_unet_build": {
        2: Answer((150, 75, 37, 18)),
        3: Answer(2),
        4: Answer(3 * 3 * 64 * 128),
        5: Answer(200),
        7: Answer(1 / 9),
        8: Answer("inference"),
    },
    "04_overfit_one_image": {
        1: Answer(math.log(9)),
        2: Answer(-math.log(0.9)),
        4: Answer(lambda r: r["one_image_pixel_accuracy"], rel_tol=0.0, abs_tol=0.005),
        8: Answer(("nan", "inf")),
    },
    "04b_training_that_works": {
        1: Answer((3 * 3 * 32, math.sqrt(2 / (3 * 3 * 32)))),
        3: Answer(math.sqrt(6), rel_tol=0.02),
        6: Answer(lambda r: r["sweep_verdict"]["claim_outcome"]),
        7: Answer(lambda r: r["prior_loss"], rel_tol=0.01),
        11: Answer(-math.log(2.0 ** -150), rel_tol=0.01),  # e^-gap rounds to 0 below half the smallest float32
    },
    "05_lr_range_test": {
        1: Answer("exponential"),
        2: Answer(50),
        4: Answer(lambda r: r["adam_loss_turned"]),
        6: Answer(2e-3),
        8: Answer(lambda r: r["sgd_to_adam_valley_ratio"], rel_tol=0.1),
    },
    "06_scheduler_comparison": {
        1: Answer("batch", also=("each batch", "after each batch", "after every batch", "per batch")),
        4: Answer(math.sqrt(2 * 0.02**2 / 3)),
        6: Answer(lambda r: (r["recipe"]["optimizer"], r["recipe"]["schedule"])),
    },
    "07_final_training": {
        4: Answer(0.5),
        5: Answer(1 / 3),
        6: Answer(lambda r: r["test_miou"], rel_tol=0.0, abs_tol=0.005),
        8: Answer(lambda r: r["test_miou"] > r["val_miou"]),
    },
    "08_skip_connection_ablation": {
        1: Answer((5, 4)),
        2: Answer("output stride"),
        3: Answer(False),
        5: Answer(2.3),
        6: Answer(lambda r: max(r["boundary_miou"], key=r["boundary_miou"].get)),
    },
    "09_gaussian_sobel_bonus": {
        1: Answer(6),
        2: Answer((361, 38)),
        6: Answer(lambda r: None if r["cosine_chance_95"] is None
                  else max(r["best_cosine_sobel_x"], r["best_cosine_sobel_y"]) > r["cosine_chance_95"]),
        7: Answer(90),
    },
}
"""notebook → question number → the checkable answer."""


def _same(given: Any, expected: Any, answer: Answer) -> bool:
    if isinstance(expected, (tuple, list)):
        return (isinstance(given, (tuple, list)) and len(given) == len(expected)
                and all(_same(g, e, answer) for g, e in zip(given, expected)))
    if isinstance(expected, bool) or isinstance(given, bool):
        return given is expected or (isinstance(given, bool) and given == expected)
    if isinstance(expected, (int, float)):
        if isinstance(given, str):
            return False
        try:
            return math.isclose(float(given), float(expected), rel_tol=answer.rel_tol, abs_tol=answer.abs_tol)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, str):
        return str(given).strip().casefold() == expected.casefold()
    return given == expected


def check_answers(notebook: str, answers: dict[int, Any], results: dict[str, Any] | None = None) -> dict[int, bool | None]:
    """Check the answers filled in for `notebook`'s questionnaire; `...` means not answered yet.

    Answers that depend on the run are compared with what the notebook recorded (`results`, by
    default read from the current run folder). Prints one line per question; returns
    {question: True (right), False (not yet), None (not answered or not checkable)}.
    """
    expected_answers = ANSWERS.get(notebook, {})
    if results is None and any(callable(a.expected) for a in expected_answers.values()):
        from .workbook import load_results

        results = load_results(notebook)
    verdicts: dict[int, bool | None] = {}
    for number in sorted(answers):
        given = answers[number]
        if given is ...:
            verdicts[number] = None
            continue
        if number not in expected_answers:
            print(f"question {number}: an open question — compare your answer with the notebook")
            verdicts[number] = None
            continue
        expected = expected_answers[number].expected
        if callable(expected):
            try:
                expected = expected(results or {})
            except KeyError:
                print(f"question {number}: run the notebook first — the answer comes from its recorded results")
                verdicts[number] = None
                continue
        if expected is None:
            print(f"question {number}: this run has no answer to it (no reading): nothing to check")
            verdicts[number] = None
            continue
        answer = expected_answers[number]
        verdicts[number] = any(_same(given, form, answer) for form in (expected, *answer.also))
        print(f"question {number}: " + ("✓ right" if verdicts[number] else "✗ not yet — look at the section again"))
    waiting = [number for number, verdict in verdicts.items() if verdict is None and answers[number] is ...]
    if waiting:
        print(f"not answered yet: question(s) {', '.join(map(str, waiting))}")
    return verdicts
