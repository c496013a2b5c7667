"""Every notebook, in order, in the smoke profile on the synthetic forest patches (binary masks; sequences are the source images)."""

from tests.notebook_datasets import dataset_run_dir, notebook_tests  # noqa: F401  (the run folder of this module)

test_notebooks_on_forest = notebook_tests("forest")
