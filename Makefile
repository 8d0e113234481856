# The two commands of the README: `make demo` and `make test`. Each sets up .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test ui install

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,demo]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fd-pipeline demo

ui: $(STAMP)
	$(VENV)/bin/fd-pipeline demo --ui

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)
