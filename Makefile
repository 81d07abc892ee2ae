# The two commands: `make run` serves the relay, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test bench clean

install: $(STAMP)

# Reinstall when the package metadata changes; an editable install keeps
# the code and schema.sql live from the checkout.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,mcp,postgres]'
	touch $(STAMP)

run: install
	$(PY) -m relay init-db
	$(PY) -m relay serve

test: install
	$(PY) -m pytest

bench: install
	$(PY) bench/messages.py
	$(PY) bench/streams.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache relay.db relay.db-wal relay.db-shm
