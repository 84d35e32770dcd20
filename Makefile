# Two commands do all set-up: `make run` (the local stack) and `make test` (every test). Both build what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench token clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m incidents serve

test: $(BIN)/.installed node_modules/.installed
	$(BIN)/python -m pytest

bench: $(BIN)/.installed node_modules/.installed
	$(BIN)/python -m bench

token: $(BIN)/.installed
	@$(BIN)/python -m incidents token --role platform-admin

clean:
	rm -rf $(VENV) node_modules .local .pytest_cache test-output
