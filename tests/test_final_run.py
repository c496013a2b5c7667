"""python -m helpers.train: notebook 07's final run as a command, its folder, exact resume and test report."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import final_run
from helpers.config import REPO_ROOT, get_profile
from helpers.recipe import Recipe
from helpers.train import load_history

RECIPE = Recipe(optimizer="adam", lr=3e-3, schedule="onecycle", loss="ce", batch_size=4, epochs=2)
ARGS = ["--profile", "smoke", "--train-images", "8", "--workers", "0", "--seed", "0"]


def command(tmp_path, streets_root, out, *extra):
    return ["--recipe", str(tmp_path / "recipe.json"), "--out", str(out),
            "--data-root", str(streets_root.parent), *ARGS, *extra]


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"best_schedule": "onecycle", "recipe": RECIPE.to_dict()}))  # notebook 06's results
    return path


def test_read_recipe_takes_a_recipe_or_notebook_06_results(tmp_path, recipe_file):
    assert final_run.read_recipe(recipe_file) == RECIPE
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(RECIPE.to_dict()))
    assert final_run.read_recipe(plain) == RECIPE
    with pytest.raises(FileNotFoundError, match="notebook 06"):
        final_run.read_recipe(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"optimiser": "adam"}))
    with pytest.raises(ValueError, match=r"bad.json holds no recipe: unknown recipe field\(s\) \['optimiser'\]"):
        final_run.read_recipe(tmp_path / "bad.json")


def test_the_command_trains_into_notebook_07s_folder_resumes_exactly_and_reports(tmp_path, streets_root,
                                                                                 recipe_file, monkeypatch):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    assert final_run.main(command(tmp_path, streets_root, straight)) == 0

    # the folder is the one notebook 07 names for these settings
    profile = get_profile("smoke")
    monkeypatch.setenv("WORKBOOK_DATA", str(streets_root.parent))
    splits = final_run.final_splits("synthetic-streets", profile, train_images=8, augment=True)
    size, _ = final_run.ensemble_plan(RECIPE)
    config = final_run.final_config("synthetic-streets", splits.train_set, RECIPE, profile, 0, True, None, size,
                                    True, "auto", "cpu")  # augmentation on: the command's default, as in 07
    folder = final_run.checkpoint_folder(straight, RECIPE, config)
    assert sorted(path.name for path in straight.iterdir()) == [folder.name]
    assert json.loads((folder / "run.json").read_text())["recipe"] == RECIPE.to_dict()

    # interrupted after epoch 1 (fit stops there), then the same command again: the same history
    real_fit = final_run.fit

    def stopping_fit(*args, **kwargs):
        real_fit(*args, **{**kwargs, "epochs": 1})
        raise KeyboardInterrupt

    monkeypatch.setattr(final_run, "fit", stopping_fit)
    with pytest.raises(KeyboardInterrupt):
        final_run.main(command(tmp_path, streets_root, interrupted))
    first_part = load_history(final_run.checkpoint_folder(interrupted, RECIPE, config)).epochs
    assert len(first_part) == 1
    monkeypatch.setattr(final_run, "fit", real_fit)
    assert final_run.main(command(tmp_path, streets_root, interrupted)) == 0
    resumed = pd.read_csv(final_run.checkpoint_folder(interrupted, RECIPE, config) / "history.csv")
    uninterrupted = pd.read_csv(folder / "history.csv")
    assert resumed["epoch"].tolist() == [1, 2]
    assert resumed["seconds"][0] == pytest.approx(first_part[0]["seconds"])  # epoch 1 came from last.pt
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), uninterrupted.drop(columns="seconds"),
                                  check_exact=False, rtol=0, atol=1e-6)

    report = json.loads((folder / "report" / "test_report.json").read_text())
    assert report["final_model"] == "predictions averaged over epoch 2 only (checkpoint ensemble)"
    assert report["recipe"] == RECIPE.to_dict() and report["epochs_run"] == 2 and report["processes"] == 1
    assert report["test_frames"] == len(splits.test_set) == len(report["per_image_accuracy"])
    confusion = torch.tensor(report["confusion"])
    assert confusion.shape == (9, 9) and int(confusion.sum()) > 0
    assert report["pixel_accuracy"] == pytest.approx(float(confusion.diag().sum() / confusion.sum()))
    assert list(report["per_class_iou"]) == list(splits.test_set.class_map.class_names)
    accuracy = report["per_image_accuracy"]
    assert report["best_frames"][0] == max(accuracy, key=accuracy.get)
    assert report["worst_frames"][0] == min(accuracy, key=accuracy.get)
    # --fresh trains again from the start (epoch 1 takes its own time now)
    assert final_run.main(command(tmp_path, streets_root, interrupted, "--fresh")) == 0
    again = pd.read_csv(final_run.checkpoint_folder(interrupted, RECIPE, config) / "history.csv")
    assert again["seconds"][0] != pytest.approx(first_part[0]["seconds"])
    for figure in ("test_per_class.png", "test_per_image_accuracy.png", "test_best_worst_frames.png", "history.png"):
        assert (folder / "report" / figure).stat().st_size > 10_000, figure


def test_python_m_helpers_train_runs_the_command(tmp_path):
    result = subprocess.run([sys.executable, "-m", "helpers.train", "--help"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--recipe" in result.stdout and "torchrun" in result.stdout and "--compile" in result.stdout


def test_the_final_augmentation_is_recorded_whole_and_true_means_mirror_jitter_haze_and_rain(streets_root, monkeypatch):
    from helpers.datasets import Augment

    assert final_run.resolve_augment(True) == final_run.FINAL_AUGMENT
    assert final_run.FINAL_AUGMENT.haze > 0 and final_run.FINAL_AUGMENT.rain > 0  # fog and rain yes
    assert final_run.FINAL_AUGMENT.degrees == 0  # rotation no
    assert final_run.resolve_augment(False) is None and final_run.resolve_augment(None) is None
    own = Augment(flip=0.0, degrees=5.0, jitter=0.0)
    assert final_run.resolve_augment(own) is own
    with pytest.raises(TypeError, match="augment must be True, False or a helpers.datasets.Augment"):
        final_run.resolve_augment("yes")
    monkeypatch.setenv("WORKBOOK_DATA", str(streets_root.parent))
    profile = get_profile("smoke")
    splits = final_run.final_splits("synthetic-streets", profile, train_images=8, augment=True)
    assert splits.train_set.augment == final_run.FINAL_AUGMENT and splits.monitor_set.augment is None
    configs = [final_run.final_config("synthetic-streets", splits.train_set, RECIPE, profile, 0, augment, None, 1,
                                      True, "auto", "cpu") for augment in (True, False, own)]
    assert configs[0]["augment"] == {"flip": 0.5, "degrees": 0.0, "jitter": 0.2, "haze": 0.85, "rain": 0.3}
    assert configs[1]["augment"] is False and configs[2]["augment"]["degrees"] == 5.0
    folders = {final_run.checkpoint_folder("runs", RECIPE, config).name for config in configs}
    assert len(folders) == 3  # another augmentation trains in another folder
    assert final_run.parse_args(["--recipe", "r.json", "--out", "o"]).augment is True
    assert final_run.parse_args(["--recipe", "r.json", "--out", "o", "--no-augment"]).augment is False


def test_per_frame_report_sums_to_the_whole_confusion_matrix_and_the_whole_loss(streets_root, monkeypatch):
    import torch.nn.functional as F

    from helpers.datasets import load_dataset
    from helpers.metrics import ConfusionMatrix
    from helpers.models import UNet

    monkeypatch.setenv("WORKBOOK_DATA", str(streets_root.parent))
    frames = load_dataset("synthetic-streets", profile=get_profile("smoke"), split="train", max_images=6,
                          progress=False)
    torch.manual_seed(0)
    model = UNet(num_classes=frames.class_map.num_classes, base=4, depth=2).eval()
    matrices, loss_right, loss_wrong = final_run.per_frame_report(model, frames, batch_size=4)
    images = torch.stack([frames[i][0] for i in range(len(frames))])
    targets = torch.stack([frames[i][1] for i in range(len(frames))])
    with torch.no_grad():
        logits = model(images)
    whole = ConfusionMatrix(frames.class_map)
    whole.update(logits.argmax(1), targets)
    assert matrices.shape == (6, 9, 9) and (matrices.sum(axis=0) == whole.matrix.numpy()).all()
    assert matrices[2].sum() == targets[2].numel()  # one matrix per frame, each with that frame's pixels
    total = F.cross_entropy(logits, targets, reduction="sum").item()
    assert abs(loss_right.sum() + loss_wrong.sum() - total) < 1e-3 * total
    wrong = (logits.argmax(1) != targets).flatten(1).any(1).numpy()
    assert ((loss_wrong > 0) == wrong).all()  # a frame's wrong-pixel loss is 0 exactly when it has no wrong pixel


def test_weather_groups_prefer_notebook_01s_flags_and_else_read_the_recorded_weather():
    flagged = pd.DataFrame({"fog": [True, False, False], "rain": [False, True, False], "weather": ["clear"] * 3})
    groups, source = final_run.weather_groups(flagged)
    assert source == "notebook 01's flags"
    assert groups["fog"].tolist() == [True, False, False] and groups["neither"].tolist() == [False, False, True]
    recorded = pd.DataFrame({"weather": ["fog", "rain", "clear", "fog"]})
    groups, source = final_run.weather_groups(recorded)
    assert "meta.csv" in source and groups["fog"].tolist() == [True, False, False, True]
    assert groups["rain"].tolist() == [False, True, False, False] and groups["neither"].sum() == 1
    assert final_run.weather_groups(pd.DataFrame({"frame": [1, 2]})) == (None, None)


def test_class_errors_splits_a_class_loss_into_false_positives_and_where_its_pixels_went():
    confusion = [[50, 0, 10],  # rows = true class: background, curb, road
                 [5, 30, 15],
                 [0, 20, 70]]
    curb = final_run.class_errors(confusion, ["background", "curb", "road"], 1)
    assert curb["recall"] == pytest.approx(30 / 50)
    assert curb["precision"] == pytest.approx(30 / 50)
    assert (curb["false_positives"], curb["false_negatives"]) == (20, 20)
    assert curb["missed_to"] == {"road": pytest.approx(0.3), "background": pytest.approx(0.1)}
    road = final_run.class_errors(confusion, ["background", "curb", "road"], 2, top=1)
    assert road["false_positives"] == 25 and road["false_negatives"] == 20
    assert road["missed_to"] == {"curb": pytest.approx(20 / 90)}


def test_one_frame_per_sequence_takes_frames_of_different_sequences_first():
    manifest = pd.DataFrame({"sequence": ["a", "a", "a", "b", "b", "c"], "image": list("123456")})
    assert final_run.one_frame_per_sequence(manifest, 3)["image"].tolist() == ["1", "4", "6"]
    assert final_run.one_frame_per_sequence(manifest, 4)["image"].tolist() == ["1", "4", "6", "2"]
    assert final_run.one_frame_per_sequence(manifest.drop(columns="sequence"), 2)["image"].tolist() == ["1", "2"]


def test_describe_schedule_choice_says_where_the_schedule_was_chosen_and_how_much_the_last_epochs_swung():
    recipe = Recipe(optimizer="adam", lr=2e-3, schedule="none", epochs=50)
    text = final_run.describe_schedule_choice(recipe, 6, [0.55, 0.587, 0.515])
    assert "won notebook 06's short grid of 6 epochs; it need not be the best one for this run of 50 epochs" in text
    assert "exercise 1" in text
    assert "last 3 epochs the pseudo-test mIoU still swung between 0.515 and 0.587 (0.072)" in text
    assert "a constant rate keeps it swinging" in text
    annealed = final_run.describe_schedule_choice(recipe.replace(schedule="cosine", epochs=6), 6, [0.5, 0.51])
    assert "as long as this run" in annealed and "exercise 1" not in annealed and "last rates" in annealed
    assert "not chosen by notebook 06" in final_run.describe_schedule_choice(recipe, None, [0.5, 0.6])
    assert "swung" not in final_run.describe_schedule_choice(recipe, 6, [0.5])  # one epoch: no swing to report
    verdict = {"identical_to_winner": ["ADAM + plateau"], "within_noise_of_winner": ["ADAM + onecycle", "ADAM + cosine"]}
    tied = final_run.describe_schedule_choice(recipe, 6, [0.5, 0.6], verdict)
    assert ("came first in notebook 06's short grid of 6 epochs, tied exactly with ADAM + plateau and listed first by "
            "the grid's tie rule, simpler recipes first (identical runs: the same rates in those epochs; a longer run may separate them) and "
            "within the noise of ADAM + onecycle, ADAM + cosine; it need not be the best one") in tied
    close = final_run.describe_schedule_choice(recipe, 6, [0.5, 0.6], dict(verdict, identical_to_winner=[]))
    assert "won notebook 06's short grid of 6 epochs, within the noise of ADAM + onecycle, ADAM + cosine; it need not" in close
    clear = final_run.describe_schedule_choice(recipe, 6, [0.5, 0.6], {"identical_to_winner": [], "within_noise_of_winner": []})
    assert "grid of 6 epochs; it need not" in clear and "noise" not in clear


def test_describe_lookup_race_says_who_leads_and_where_the_lookup_still_wins():
    names = ["road", "cars", "tram"]
    unet = {"pixel_accuracy": 0.9, "miou": 0.6, "iou": [0.9, 0.7, 0.2]}
    lookup = {"pixel_accuracy": 0.7, "miou": 0.3, "iou": [0.6, 0.05, 0.25]}
    ahead = final_run.describe_lookup_race(unet, lookup, names)
    assert "pixel accuracy 0.900 (U-Net) against 0.700 (lookup); mIoU 0.600 against 0.300" in ahead
    assert "the U-Net is 0.300 mIoU ahead of the colour lookup" in ahead
    assert ahead.endswith("the lookup still leads on tram (0.25 against 0.20)")
    behind = final_run.describe_lookup_race(lookup, unet, names)
    assert "the U-Net is 0.300 mIoU behind the colour lookup" in behind
    assert "the lookup still leads on road (0.90 against 0.60), cars (0.70 against 0.05)" in behind
    level = dict(unet, iou=[0.9, 0.7, float("nan")])
    assert final_run.describe_lookup_race(unet, level, names).endswith("the lookup leads on no class by 0.01 IoU or more")


def test_unaugmented_subset_scores_the_frames_trained_on_as_stored(streets_root, monkeypatch):
    monkeypatch.setenv("WORKBOOK_DATA", str(streets_root.parent))
    splits = final_run.final_splits("synthetic-streets", get_profile("smoke"), train_images=8, augment=True)
    subset = final_run.unaugmented_subset(splits.train_set, 4)
    last = len(splits.train_set) - 1
    assert subset.indices[0] == 0 and subset.indices[-1] == last and len(set(subset.indices)) == 4  # spread evenly
    assert splits.train_set.augment is not None  # the training set keeps its own
    for position, index in enumerate(subset.indices):
        image, label = subset[position]
        raw_image, raw_label = splits.train_set.raw(index)
        # the frame as stored, the same at every pass: no mirror, jitter, haze or rain drawn
        assert torch.equal(image, torch.from_numpy(raw_image).permute(2, 0, 1).float() / 255)
        assert torch.equal(label, torch.from_numpy(raw_label.astype("int64")))
        assert torch.equal(subset[position][0], image)


def test_describe_class_shares_names_the_common_the_few_percent_and_the_rare_classes():
    text = final_run.describe_class_shares([0.5, 0.3, 0.03, 0.0287, 0.0067], ["else", "road", "curb", "humans", "moto"])
    assert text == ("else 50.0%, road 30.0% cover most of the training pixels; curb 3.0%, humans 2.9% a few percent "
                    "each; moto 0.7% under 2% each")
    assert final_run.describe_class_shares([0.1, 0.1], ["a", "b"]).startswith("no class covers 20% of the training")


BEST, AVERAGED = "best single epoch (38)", "weights averaged over epochs 39–50"
ENSEMBLE = "predictions averaged over epochs 39–50 (checkpoint ensemble)"


def test_describe_candidate_ranking_says_whether_test_agrees_with_pseudo_test():
    pseudo = {BEST: 0.604, AVERAGED: 0.580, ENSEMBLE: 0.592}
    this_run = {BEST: 0.616, AVERAGED: 0.633, ENSEMBLE: 0.645}
    partly = final_run.describe_candidate_ranking(pseudo, this_run, picked=BEST, picked_from=50)
    assert partly == ("pseudo-test and test agree on 1 of the 3 pairs; pseudo-test's first, best single epoch (38) — "
                      "the maximum of 50 pseudo-test scores, which that choice flatters (§4) — comes last on test")
    # the verdict only: the scores and places are the table's, and no other candidate is named
    assert "0.6" not in partly and AVERAGED not in partly and ENSEMBLE not in partly
    # pseudo-test's first was not picked as a maximum: no reason is claimed beyond the gaps
    unpicked = final_run.describe_candidate_ranking(pseudo, this_run, picked=AVERAGED, picked_from=50)
    assert unpicked == ("pseudo-test and test agree on 1 of the 3 pairs; pseudo-test's first, best single epoch (38), "
                        "comes last on test: pseudo-test's gaps (at most 0.024) did not foretell test's order")
    reverse = final_run.describe_candidate_ranking(pseudo, {BEST: 0.5, ENSEMBLE: 0.6, AVERAGED: 0.7})
    assert reverse.startswith("test ranks them in exactly the reverse order of pseudo-test; pseudo-test's first, "
                              "best single epoch (38), comes last on test: pseudo-test's gaps")
    assert final_run.describe_candidate_ranking(pseudo, {BEST: 0.7, ENSEMBLE: 0.6, AVERAGED: 0.5}) == (
        "pseudo-test and test rank the 3 candidates in the same order")
    second = final_run.describe_candidate_ranking(pseudo, {BEST: 0.6, ENSEMBLE: 0.7, AVERAGED: 0.5}, BEST, 50)
    assert second.startswith("pseudo-test and test agree on 2 of the 3 pairs; pseudo-test's first, best single "
                             "epoch (38) — the maximum of 50") and second.endswith("— comes 2nd on test")
    # pseudo-test's first is test's first too: said so, and no blame on the gaps
    first = final_run.describe_candidate_ranking({BEST: 0.61, ENSEMBLE: 0.60, AVERAGED: 0.59},
                                                 {BEST: 0.65, ENSEMBLE: 0.62, AVERAGED: 0.63}, BEST, 50)
    assert first == ("pseudo-test and test agree on 2 of the 3 pairs: pseudo-test's first is test's first too, the "
                     "other two swap")
    assert final_run.describe_candidate_ranking({BEST: 0.6}, {BEST: 0.6}) == "one candidate only: nothing to rank"
    # the longest candidate name first on pseudo-test, not picked: still a line that fits under the table
    longest = final_run.describe_candidate_ranking({ENSEMBLE: 0.61, BEST: 0.60, AVERAGED: 0.59},
                                                   {ENSEMBLE: 0.59, BEST: 0.62, AVERAGED: 0.60}, BEST, 50)
    assert "pseudo-test's first, predictions averaged over epochs 39–50 (checkpoint ensemble), comes last" in longest
    assert max(len(line) for line in (partly, unpicked, reverse, second, first, longest)) <= 220


def test_ordinal_ranks_place_each_candidate_on_test_as_the_verdict_does():
    assert final_run.ordinal_ranks({BEST: 0.616, AVERAGED: 0.633, ENSEMBLE: 0.645}) == {
        BEST: "3rd", AVERAGED: "2nd", ENSEMBLE: "1st"}
    assert final_run.ordinal_ranks({"a": 0.5, "b": 0.5, "c": 0.7}) == {"a": "2nd", "b": "3rd", "c": "1st"}  # ties


def test_ordinal_suffixes():
    assert [final_run.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st"]


def test_describe_test_against_pseudo_test_calls_a_tie_to_3_decimals_the_same():
    assert final_run.describe_test_against_pseudo_test(0.6423, 0.5903, 0.88) == (
        "test mIoU is 0.052 higher than pseudo-test here, and 0.238 below the frames trained on")
    assert final_run.describe_test_against_pseudo_test(0.5, 0.6, 0.7).startswith("test mIoU is 0.100 lower than")
    assert final_run.describe_test_against_pseudo_test(0.1004, 0.1, 0.2).startswith(
        "test mIoU is the same as pseudo-test (to 3 decimals) here")


def test_describe_saved_size_says_an_ensemble_holds_every_member():
    assert final_run.describe_saved_size(93_800_000, 12) == (
        "93.8 MB: the weights of all 12 members, about 7.8 MB each (float32), so 12 times one model")
    assert final_run.describe_saved_size(7_800_000, 1) == "7.8 MB: one model's weights"


def test_describe_weather_group_names_the_scene_of_a_single_sequence():
    only = final_run.describe_weather_group("rain", 0.431, 0.65, [5], ["city"], scene_sequences=1)
    assert only == ("- rain: mIoU 0.431, 0.219 below the frames with neither, on 1 sequence(s) — one street (sequence "
                    "5, a city scene): not enough to blame the weather; it is also the only city sequence of the "
                    "split, so the rain score and the city score are one observation")
    one_of_two = final_run.describe_weather_group("rain", 0.431, 0.65, [5], ["city"], scene_sequences=2)
    assert one_of_two.endswith("a city scene): not enough to blame the weather")
    several = final_run.describe_weather_group("fog", 0.7, 0.65, ["1", "2"], ["city", "suburb"])
    assert several == "- fog: mIoU 0.700, 0.050 above the frames with neither, on 2 sequence(s)"


def test_class_absent_subset_finds_the_first_sequence_that_lacks_a_class():
    present = np.eye(3, dtype=np.int64)[None].repeat(2, axis=0)  # every class in both frames
    lacking = np.diag([5, 5, 0])[None].astype(np.int64)  # class 2 neither true nor predicted
    frames = np.concatenate([present, lacking, present])
    name, matrix, absent = final_run.class_absent_subset(frames, ["a", "a", "b", "c", "c"])
    assert name == "the frames of sequence b" and absent == [2] and matrix.tolist() == lacking[0].tolist()
    assert final_run.class_absent_subset(present, ["a", "b"]) is None


def test_describe_absent_convention_shows_both_numbers_and_whether_they_differ():
    wrong = final_run.describe_absent_convention("the frames of sequence 7", 0.4, 0.6, ["tram/train"])
    assert wrong == ("on the frames of sequence 7 (absent: tram/train): report_miou 0.400, the workbook's mIoU 0.600 "
                     "— they differ by 0.200: one of them is wrong")
    assert "(absent: none)" in final_run.describe_absent_convention("all", 0.6, 0.6, [])
    assert "cannot tell the two apart" in final_run.describe_absent_convention("all", 0.6, 0.6, [])
    assert "although a class is absent" in final_run.describe_absent_convention("x", 0.6, 0.6, ["busses"])


def test_describe_sequence_spread_names_the_ends_and_the_scenes_on_both_sides():
    accuracy = [0.90, 0.92, 0.96, 0.98, 0.95, 0.89]
    sequences = [12, 12, 28, 28, 7, 3]
    scenes = ["highway", "highway", "highway", "highway", "countryside", "city"]
    assert final_run.describe_sequence_spread(accuracy, sequences, scenes, 0.938) == (
        "mean frame accuracy per sequence, lowest first: 3 (city) 0.890, frames 0.890–0.890; 12 (highway) 0.910, "
        "frames 0.900–0.920; 7 (countryside) 0.950, frames 0.950–0.950; 28 (highway) 0.970, frames 0.960–0.980\n"
        "2 of 4 sequences lie below the pooled 0.938; the sequences of highway (12: 0.910, 28: 0.970) fall on both "
        "sides of it")
    assert "both sides" not in final_run.describe_sequence_spread(accuracy, sequences, scenes, 0.975)


def test_epoch_span_names_one_epoch_without_a_range():
    assert final_run.epoch_span(39, 50) == "epochs 39–50"
    assert final_run.epoch_span(2, 2) == "epoch 2 only"
