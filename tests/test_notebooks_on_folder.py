"""Every notebook, in order, in the smoke profile on a folder of your own (colour masks with classes.csv, no sequences)."""

from tests.notebook_datasets import dataset_run_dir, notebook_tests  # noqa: F401  (the run folder of this module)

test_notebooks_on_folder = notebook_tests("folder")
