"""Every notebook, in order, in the smoke profile on ADE20K as get_ade20k.py extracts it (150 classes, no sequences, the validation images as test)."""

from tests.notebook_datasets import dataset_run_dir, notebook_tests  # noqa: F401  (the run folder of this module)

test_notebooks_on_ade20k = notebook_tests("ade20k")
