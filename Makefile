# The README's two commands are `make demo` and `make test`; both bootstrap .venv from a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check bench lint format types contracts clean serve

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/costbot demo

# Coverage of bot/ demo/ handlers/ services/ (lines and branches) across both xdist workers;
# prints the files below 100 % and the TOTAL, and fails under [tool.coverage.report] fail_under.
test: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile --cov --cov-report=term

check: $(STAMP) lint types contracts

lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

types:
	$(BIN)/mypy

contracts:
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

serve: $(STAMP)
	$(BIN)/costbot serve

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*
