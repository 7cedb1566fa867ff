# The README's two commands: `make run` and `make test` (and `make bench`).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py

.PHONY: run test install lint format bench clean idp-deps

$(VENV)/.installed: setup.cfg pyproject.toml scripts/install.sh
	bash scripts/install.sh "$(PYTHON)" "$(VENV)"
	touch $@

install: $(VENV)/.installed

# Starts the bundled test IdPs too (when Node >= 20 / xmlsec1 are there), so the demo's
# OIDC and SAML connections really sign in.
run: install idp-deps
	bash scripts/run.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The test identity providers (npm oidc-provider 9, which needs Node >= 20) live in tests/idp.
idp-deps:
	@bash scripts/idp-deps.sh

test: install lint idp-deps
	bash scripts/run-tests.sh

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache tests/idp/node_modules

bench: install
	$(BIN)/python bench/headcount.py
	$(BIN)/python bench/lists.py
	$(BIN)/python bench/timesheets.py
	$(BIN)/python bench/invoice_pdf.py
