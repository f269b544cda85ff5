# The README's commands. Each creates or reuses .venv and installs what changed, then runs its job.
#   make demo    the whole job on the built-in synthetic data
#   make test    the test suite
#   make bench   the measured comparisons in benchmarks/
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# The install is redone only when one of these files changes (stamp keyed on their content).
DEPS_HASH := $(shell cat requirements.txt setup.cfg setup.py pyproject.toml | sha256sum | cut -c1-16)
STAMP     := $(VENV)/.installed-$(DEPS_HASH)
DEMO_OUT  ?= results/demo
DEMO_BUDGET ?= 16

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	# lava-nc 0.10.0 declares Python < 3.11 but runs on 3.11 through tnas_plugin/lava_compat.py;
	# its dependencies are pinned in requirements.txt.
	$(PIP) install -q --no-deps --ignore-requires-python lava-nc==0.10.0
	$(PIP) install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

demo: setup
	$(VENV)/bin/tnas-er search --budget $(DEMO_BUDGET) --out $(DEMO_OUT)

test: setup
	$(PY) -m pytest -q

bench: setup
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info
