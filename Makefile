# The README's two commands: `make run` and `make test` (and `make bench`).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py

.PHONY: run test install lint format bench clean

$(VENV)/.installed: setup.cfg pyproject.toml scripts/install.sh
	bash scripts/install.sh "$(PYTHON)" "$(VENV)"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask fms demo
	@echo "FMS is starting on http://127.0.0.1:5000 (Ctrl+C stops it)."
	$(BIN)/flask run --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install lint
	bash scripts/run-tests.sh

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
