"""Every notebook, in order, in the smoke profile on GTA5 as prepare_gta5.py leaves it (Cityscapes labelIds, the official split, no meta.csv)."""

from tests.notebook_datasets import dataset_run_dir, notebook_tests  # noqa: F401  (the run folder of this module)

test_notebooks_on_gta5 = notebook_tests("gta5")
