# ebpftop: `sudo make run` and `sudo make test` are all a fresh machine needs.
VENV    := .venv
PY      := $(VENV)/bin/python
ARGS    ?=
PYTEST  ?=

.PHONY: setup run test test-unit test-ui test-kernel test-kernels bench soak install uninstall screenshots lint clean

setup:
	@scripts/setup.sh

run: setup
	$(VENV)/bin/ebpftop $(ARGS)

# ruff over the whole checkout, mypy over ebpftop/ (rules and scope in pyproject.toml).
# Both always run, so one pass shows every finding; either failing fails lint.
# Static checks need only the venv (setup, which needs root, runs when it is missing).
lint:
	@[ -x $(VENV)/bin/ruff ] && [ -x $(VENV)/bin/mypy ] || scripts/setup.sh
	@rc=0; $(VENV)/bin/ruff check . || rc=1; $(VENV)/bin/mypy || rc=1; exit $$rc

# Lint first: CI runs `make test`, so a lint finding fails CI like a failing test.
test: setup lint
	$(PY) -m pytest $(PYTEST)

test-unit: setup
	$(PY) -m pytest tests/unit $(PYTEST)

test-ui: setup
	$(PY) -m pytest tests/ui $(PYTEST)

test-kernel: setup
	$(PY) -m pytest tests/kernel $(PYTEST)

# Boots Debian's stock kernels (KERNELS="6.1 6.12") in qemu and runs the matrix tests in each.
test-kernels: setup
	KERNELS="$(or $(KERNELS),6.1 6.12)" scripts/test-kernels.sh

bench: setup
	$(PY) bench/run.py

soak: setup
	$(PY) bench/soak.py $(or $(MINUTES),10)

screenshots: setup
	$(PY) scripts/screenshots.py

# Gives root an `ebpftop` on PATH that runs from this checkout's venv.
install: setup
	ln -sf $(abspath $(VENV))/bin/ebpftop /usr/local/bin/ebpftop
	@echo "installed /usr/local/bin/ebpftop"

uninstall:
	rm -f /usr/local/bin/ebpftop

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build *.egg-info
