"""Training, evaluation and run records: everything that turns a config into result files."""
