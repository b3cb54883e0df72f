# Entry points: `make demo` runs the main job on the simulator target, `make test` runs every
# test. Both create the virtual environment .venv from the repo's own files first.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(VPY) tools/demo.py

test: setup
	$(VPY) -m pytest tests

clean:
	rm -rf $(VENV) build
