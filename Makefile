# make install: .venv from the repo's own files; make search: the default NB201
# search; make test: the test suite; make theory: the NTK check (theory/).
# All install first when needed.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install search test theory clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.txt requirements-test.txt \
		requirements-nt.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	$(VENV)/bin/pip install --quiet --no-deps -r requirements-nt.txt
	touch $(STAMP)

search: $(STAMP)
	$(VENV)/bin/python -m freedarts_jax.search --config=configs/nb201.py

theory: $(STAMP)
	$(VENV)/bin/python -m theory.verify_ntk --config=configs/theory_nb201.py \
		--workdir=runs/theory

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) build *.egg-info
