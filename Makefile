.PHONY: setup demo test test-fast bench

setup:
	@scripts/setup.sh

# Train the bundled tiny model on the sample chat data and watch it live (TUI in a terminal).
demo: setup
	.venv/bin/workbench demo

# The whole suite, end-to-end training runs included.
test: setup
	.venv/bin/python -m pytest -q

test-fast: setup
	.venv/bin/python -m pytest -q -m "not slow"

bench: setup
	.venv/bin/python bench/bench_core.py --quick
