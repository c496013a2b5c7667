"""The questionnaires: every notebook ends with one, its check cell lists exactly the checkable questions,
and `check_answers` judges answers against fixed values and against the run's own results."""

from __future__ import annotations

import math
import re

import nbformat
import pytest

from helpers.questionnaire import ANSWERS, check_answers
from helpers.workbook import NOTEBOOK_DIR, NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_ends_with_a_questionnaire(name):
    cells = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4).cells
    questions, check = cells[-2], cells[-1]
    assert questions.cell_type == "markdown" and questions.source.startswith("## Questionnaire")
    numbered = re.findall(r"^(\d+)\. (.*)$", questions.source, re.MULTILINE)
    assert 6 <= len(numbered) <= 12 and [int(number) for number, _ in numbered] == list(range(1, len(numbered) + 1))
    marked = [int(number) for number, text in numbered if "✓" in text]
    assert marked == sorted(ANSWERS[name]), "each ✓ question has an answer in helpers.questionnaire, and only those"
    listed = [int(number) for number in re.findall(r"(\d+): \.\.\.", check.source)]
    assert check.cell_type == "code" and listed == marked and f'check_answers("{name}"' in check.source


def test_fixed_answers_right_wrong_and_unanswered(capsys):
    verdicts = check_answers("04_overfit_one_image", {1: 2.197, 2: 0.5, 8: ("nan", "inf"), 3: "a bug"}, results={})
    assert verdicts == {1: True, 2: False, 3: None, 8: True}
    out = capsys.readouterr().out
    assert "question 1: ✓ right" in out and "question 2: ✗ not yet" in out and "question 3: an open question" in out
    verdicts = check_answers("03_unet_build", {2: (150, 75, 37, 18), 8: "Inference", 5: ...}, results={})
    assert verdicts == {2: True, 5: None, 8: True}
    assert "not answered yet: question(s) 5" in capsys.readouterr().out


def test_answers_from_the_run_own_results(capsys):
    results = {"num_frames": 800, "num_sequences": 40}
    assert check_answers("00_getting_started", {3: (800, 40)}, results=results) == {3: True}
    assert check_answers("00_getting_started", {3: (800, 39)}, results=results) == {3: False}
    assert check_answers("00_getting_started", {3: (800, 40)}, results={}) == {3: None}
    assert "run the notebook first" in capsys.readouterr().out
    assert check_answers("05_lr_range_test", {8: 5.0}, results={"sgd_to_adam_valley_ratio": None}) == {8: None}
    assert "no reading" in capsys.readouterr().out


def test_numbers_within_tolerance_and_booleans_strict():
    results = {"test_miou": 0.5123, "val_miou": 0.49}
    assert check_answers("07_final_training", {6: 0.512, 8: True, 5: 0.3333}, results=results) == {6: True, 8: True, 5: True}
    assert check_answers("07_final_training", {8: 1}, results=results) == {8: False}  # 1 is not True here
    assert check_answers("06_scheduler_comparison", {4: math.sqrt(2 * 0.0004 / 3)}, results={}) == {4: True}


def test_04b_sweep_answer_is_the_verdict_the_notebook_gives():
    # the verdict rests on divergence; the "learned" reading it sets aside may differ
    results = {"sweep_verdict": {"claim_outcome": "larger", "outcome": "only_with_norm"}}
    assert check_answers("04b_training_that_works", {6: "larger"}, results=results) == {6: True}
    assert check_answers("04b_training_that_works", {6: "only_with_norm"}, results=results) == {6: False}


def test_other_phrasings_of_an_answer_count():
    # "after each batch or after each epoch?": the answer in the question's own words counts as well
    for given in ("batch", "Batch", "after each batch", " After each batch "):
        assert check_answers("06_scheduler_comparison", {1: given}, results={}) == {1: True}
    for given in ("epoch", "after each epoch", "batches and epochs"):
        assert check_answers("06_scheduler_comparison", {1: given}, results={}) == {1: False}
