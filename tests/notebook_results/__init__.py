"""One module per notebook, each with `check(results)`: assertions on what the notebook recorded."""
