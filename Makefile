# The README's commands. Each creates or reuses .venv and installs what changed, then runs its job.
#   make demo    the whole job on the built-in synthetic data
#   make test    the test suite
#   make bench   the measured comparisons in benchmarks/
#   make system-deps   Debian packages the tests use (openssh-server); part of make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# The install is redone only when one of these files changes (stamp keyed on their content).
DEPS_HASH := $(shell cat requirements.txt setup.cfg setup.py pyproject.toml | sha256sum | cut -c1-16)
STAMP     := $(VENV)/.installed-$(DEPS_HASH)
DEMO_OUT  ?= results/demo
DEMO_BUDGET ?= 100
SSHD      ?= /usr/sbin/sshd
# The suite waits on NNI managers, trials and other subprocesses part of its time; two pytest-xdist workers overlap
# those waits; three were no faster on two cores, four slower (benchmarks/README.md, `make test`). tests/conftest.py
# deals the longest tests to the workers so that they finish together; tests/nni_helpers.py keeps each worker's NNI
# managers apart. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

.PHONY: setup system-deps demo test bench clean

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

# --overwrite: each demo replaces the previous one (its results move in only once complete).
demo: setup
	$(VENV)/bin/tnas-er search --budget $(DEMO_BUDGET) --out $(DEMO_OUT) --overwrite

test: setup system-deps
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

# openssh-server: tests/test_remote_training_service.py runs NNI's remote training service against a private
# sshd on 127.0.0.1. Installed only when /usr/sbin/sshd is missing, as root, with apt-get; a policy-rc.d
# keeps the package from starting the system's own sshd. Not root or no apt-get: that test skips.
system-deps:
	@if [ -x $(SSHD) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "system-deps: $(SSHD) missing and not root with apt-get: not installing openssh-server;" \
		     "the remote training service test will skip"; exit 0; fi; \
	echo "system-deps: installing openssh-server (for the remote training service test)"; \
	policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then policy=/usr/sbin/policy-rc.d; \
		printf '#!/bin/sh\nexit 101\n' > $$policy && chmod +x $$policy; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; status=$$?; \
	if [ -n "$$policy" ]; then rm -f $$policy; fi; \
	if [ $$status != 0 ]; then echo "system-deps: installing openssh-server failed"; exit $$status; fi

bench: setup $(DEMO_OUT)/chosen/architecture.json
	$(PIP) install -q -r requirements-bench.txt   # benchmark-only dependencies (Optuna and pymoo, for bench_tuner)
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info

# bench_quantization and bench_generation_idle read the demo's results: a demo runs first if there is none.
$(DEMO_OUT)/chosen/architecture.json:
	$(MAKE) demo
