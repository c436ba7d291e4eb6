# make install: .venv from the repo's own files; make search: the default NB201
# search; make test: the test suite. Both install first when needed.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install search test clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

search: $(STAMP)
	$(VENV)/bin/python -m freedarts_jax.search --config=configs/nb201.py

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
