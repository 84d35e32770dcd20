# Two commands do all set-up: `make run` (the local stack) and `make test` (every test). Both build what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench token clean system-packages

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

PORT ?= 7071
run: $(BIN)/.installed
	$(BIN)/python -m incidents serve --port $(PORT)

# Debian packages the tests use: Chromium for the browser test (a downloaded browser build cannot be had here),
# shellcheck for the deploy scripts and a Java runtime for the Nu HTML Checker (npm vnu-jar). Installed when missing;
# CI runs as root.
DEBIAN_PACKAGES := chromium chromium-driver shellcheck default-jre-headless
system-packages:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! command -v shellcheck >/dev/null \
	    || ! command -v java >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEBIAN_PACKAGES); \
	  else \
	    echo "Missing Debian packages: sudo apt-get install $(DEBIAN_PACKAGES)"; \
	  fi; \
	fi

test: system-packages $(BIN)/.installed node_modules/.installed  # Java first: vnu-jar's npm postinstall looks for it
	$(BIN)/python -m pytest

bench: $(BIN)/.installed node_modules/.installed
	$(BIN)/python -m bench --update-readme

token: $(BIN)/.installed
	@$(BIN)/python -m incidents token --role platform-admin

clean:
	rm -rf $(VENV) node_modules .local .pytest_cache test-output
