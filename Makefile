# make install: .venv from the repo's own files; make search: the default NB201
# search; make test: the test suite; make theory: the NTK check (theory/).
# All install first when needed. make test-latest: the suite less the slow
# tests in .venv-latest, a Python 3.12 environment upgraded to the newest
# releases requirements*.txt allow (PYTHON312 names its interpreter).
PYTHON ?= python3
PYTHON312 ?= python3.12
VENV := .venv
STAMP := $(VENV)/.installed
LATEST := .venv-latest

.PHONY: install search test test-latest theory clean

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

test-latest:
	test -x $(LATEST)/bin/python || $(PYTHON312) -m venv $(LATEST)
	$(LATEST)/bin/pip install --quiet --upgrade pip
	$(LATEST)/bin/pip install --quiet --upgrade --upgrade-strategy eager \
		-e '.[test]'
	$(LATEST)/bin/pip install --quiet --no-deps -r requirements-nt.txt
	$(LATEST)/bin/pip list --format=freeze | grep -iE \
		'^(jax|jaxlib|flax|optax|chex|orbax-checkpoint|numpy|scipy)=='
	$(LATEST)/bin/python -m pytest -q -n 2 --dist loadfile -m 'not slow'

clean:
	rm -rf $(VENV) $(LATEST) build *.egg-info
