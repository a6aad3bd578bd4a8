# The README's two commands are `make demo` and `make test`; both bootstrap .venv from a fresh clone.
# `make demo` installs runtime dependencies only; `make test` / `make check` add the dev tools.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

.PHONY: demo test check bench lint format types contracts clean serve browser

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $(STAMP)

$(DEV): $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(DEV)

# A throw-away data directory (removed at exit) unless DATA_DIR is set, so every run on the same
# day shows the same figures: the tour presses buttons, which changes what a kept Redis holds.
demo: $(STAMP)
	@set -e; \
	if [ -n "$(DATA_DIR)" ]; then dir="$(DATA_DIR)"; \
	else dir=$$(mktemp -d "$${TMPDIR:-/tmp}/costbot-demo.XXXXXX"); trap 'rm -rf "$$dir"' EXIT; fi; \
	DATA_DIR="$$dir" $(BIN)/costbot demo; \
	echo; \
	echo "Try it yourself: $(BIN)/costbot console   (type /cost commands, press buttons by number)"; \
	echo "             or: $(BIN)/costbot ask \"summary 7d\" --as U0ALICE"; \
	echo "   the web view: $(BIN)/costbot web   then open http://127.0.0.1:$${PORT:-3000}/ (Sign in with Slack)"

# Coverage of bot/ demo/ handlers/ services/ (lines and branches) across both xdist workers;
# prints the files below 100 % and the TOTAL, and fails under [tool.coverage.report] fail_under.
test: $(DEV) browser
	$(BIN)/pytest -n 2 --dist loadfile --cov --cov-report=term

check: $(DEV) lint types contracts

# The web view's browser tests drive Debian's chromium (never a downloaded build): installed here
# when missing (CI runs as root on a fresh clone), left alone when /usr/bin/chromium is there.
browser:
	@if [ -x /usr/bin/chromium ]; then echo "browser: /usr/bin/chromium"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y --no-install-recommends chromium; \
	elif command -v sudo >/dev/null; then sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium; \
	else echo "browser: no /usr/bin/chromium and not root; the browser tests will be skipped" >&2; fi

lint: $(DEV)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

types: $(DEV)
	$(BIN)/mypy

contracts: $(DEV)
	$(BIN)/lint-imports

bench: $(DEV)
	$(BIN)/python -m bench

serve: $(STAMP)
	$(BIN)/costbot serve

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*
