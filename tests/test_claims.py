"""Claims in the notebooks' prose: tags, reference boxes and the lint of untagged numbers.

The claim tags themselves are evaluated on the smoke run of every notebook in test_notebooks.py.
"""

from __future__ import annotations

import json

import pytest

from helpers import claims
from helpers.workbook import NOTEBOOKS, record, start


def markdown_notebook(*sources: str) -> dict:
    return {"cells": [{"cell_type": "markdown", "id": f"m{number}", "source": source}
                      for number, source in enumerate(sources)]}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_number_in_the_prose_is_accounted_for(name):
    assert claims.lint_notebook(name) == []


def test_score_like_numbers_are_found_and_valued():
    text = "a 46 % share, 3.8× faster, mIoU 0.612, lr 10⁻³ or 1e-4; not 3×3, 400×300, v3.11.7 or 12 epochs"
    found = [match.group(1) for match in claims.SCORE_LIKE.finditer(text)]
    assert found == ["46 %", "3.8×", "0.612", "10⁻³", "1e-4"]
    assert [claims.number_value(token) for token in found] == [46, 3.8, 0.612, 1e-3, 1e-4]


def test_untagged_numbers_are_flagged_and_tagged_ones_are_not():
    untagged = claims.lint_markdown("The U-Net reaches an mIoU of 0.61 on test.")
    assert len(untagged) == 1 and "'0.61' is stated without a claim tag" in untagged[0]
    tagged = "The output is 9×300×400 and the bottleneck holds 46 % of the weights.\n" \
             "<!-- claim: round(100 * share) == 46 -->"
    assert claims.lint_markdown(tagged) == []
    assert claims.lint_markdown("β = 0.98 smooths the loss.", constants={"0.98": "β"}) == []
    assert claims.lint_markdown("Set `LR = 0.003` or see [this](https://x.org/1.5%).") == []  # code and links


def test_reference_boxes_need_profile_seed_machine_and_date():
    complete = ("> **Reference run** — quick profile, seed 0, 2-core CPU, December 2026:\n"
                "> test mIoU 0.612, pixel accuracy 0.91")
    assert claims.lint_markdown(complete) == []  # its numbers are another run's: not flagged
    incomplete = "> **Reference run** — quick profile, December 2026: test mIoU 0.612"
    problems = claims.lint_markdown(incomplete)
    assert len(problems) == 1
    assert problems[0].startswith("reference box without seed, machine: **Reference run** — quick profile")
    assert claims.lint_markdown("> A quote with 0.5 in it") != []  # only a reference box exempts its numbers


def test_a_claim_that_is_not_python_is_reported():
    assert "is not a Python expression" in claims.lint_markdown("<!-- claim: test_miou >> -->")[0]


def test_claims_are_evaluated_on_the_recorded_results(tmp_path):
    start("07_final_training", profile="smoke", run_dir=tmp_path)
    record("test_miou", 0.4)
    record("val_miou", 0.5)
    notebook = markdown_notebook("Test is below pseudo-test here. <!-- claim: test_miou < val_miou -->",
                                 "Test beats 0.45. <!-- claim: test_miou > 0.45 -->",
                                 "<!-- claim: missing_key > 0 -->",
                                 "<!-- claim: profile == 'smoke' and earlier('05_lr_range_test') == {} -->")
    problems = claims.check_claims("07_final_training", tmp_path, notebook)
    assert len(problems) == 2
    assert problems[0] == ("07_final_training cell m1: claim 'test_miou > 0.45' is false in this run "
                           "(smoke profile)")
    assert "cell m2" in problems[1] and "cannot be evaluated (NameError" in problems[1]


def test_the_command_line_checks_a_run_folder(tmp_path, capsys):
    (tmp_path / "00_getting_started.json").write_text(json.dumps({"num_frames": 10}))
    status = claims.main([str(tmp_path), "00", "01"])
    out = capsys.readouterr().out
    assert status == 1 and "01_data_cleaning: no results in" in out and "00_getting_started" not in out
