# Two commands do everything on a fresh Debian machine (as root):
#   make lab    the container lab: lb1 + app1..app3, site.yml, the seed's demo on :8080
#   make test   lint, unit tests and every Molecule scenario on systemd containers
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
# Molecule calls ansible-config and ansible-playbook by name: the venv must come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0

STRATEGY ?= cookie
LAB_PORT ?= 8080
SCALE ?= 3
LBS ?= 1
# Debian release of the lab's hosts (tools/lab-host.yml lists the supported ones; newest first).
RELEASE ?=
# Molecule scenarios running at once (make molecule); two cores run two best.
MOLECULE_JOBS ?= 2

.PHONY: help deps venv engine image lint unit molecule test lab lab-down demo report clean \
	vagrant-deps vagrant-lab vagrant-test vagrant-down screenshot bench

help:
	@echo "make lab [STRATEGY=cookie|ip_hash|consistent_hash|round_robin|least_conn] [SCALE=1..9] [LBS=1|2] [RELEASE=trixie|bookworm] [LAB_PORT=8080]"
	@echo "make report | make logs | make bench | make lab-down | make test | make lint | make unit | make molecule"
	@echo "make vagrant-lab [STRATEGY=...] | make vagrant-down | make vagrant-test   (Vagrant, docker provider)"

deps:
	@python3 tools/labctl.py deps

$(VENV)/.installed: requirements-dev.txt app/pyproject.toml app/constraints.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

engine: deps
	@$(PYTHON) tools/labctl.py engine

image: deps venv engine
	@$(PYTHON) tools/labctl.py image --release all --for-tests

lint: venv
	yamllint --strict .
	ansible-lint

# Two workers, each taking whole test files (a file's shared fixtures are made once): in
# `make test` the unit tests are the longest of the three jobs that run before Molecule.
unit: deps venv
	pytest -n 2 --dist loadfile

# Every scenario (and release) of tools/run_scenarios.py, MOLECULE_JOBS at a time; each one's
# timestamped log goes to .molecule-logs/, a failed one's log is printed whole, and a table of
# times ends it. SCENARIOS="default multihost@bookworm" runs some.
molecule: image
	$(PYTHON) tools/run_scenarios.py --jobs $(MOLECULE_JOBS) $(SCENARIOS)

# Debian packages first (one apt at a time); then the base images download and build while
# lint and the unit tests use the CPU (each one's output printed whole when it ends); then the
# scenarios, then the Vagrant lab. STICKYLAB_NO_SKIPS: a test in tests/ that skips fails (tests/conftest.py).
test: deps vagrant-deps venv engine
	STICKYLAB_NO_SKIPS=1 $(MAKE) --no-print-directory --output-sync=target -j3 image lint unit
	$(MAKE) --no-print-directory molecule vagrant-test

lab: deps venv engine
	@$(PYTHON) tools/labctl.py up --strategy $(STRATEGY) --port $(LAB_PORT) --scale $(SCALE) --lbs $(LBS) \
		$(if $(RELEASE),--release $(RELEASE))
	@$(PYTHON) tools/labctl.py demo --port $(LAB_PORT)

demo: venv
	@$(PYTHON) tools/labctl.py demo --port $(LAB_PORT)

# Simulated clients inside lb1 (each from its own 127.0.N.1, so ip_hash sees distinct clients);
# with LBS=2 through the virtual address instead.
report: venv
	@$(PYTHON) tools/sticky_report.py --container stickylab-lab-lb1 \
		$(if $(filter 2,$(LBS)),http://$$($(PYTHON) tools/labctl.py virtual-address)/,--ip-sources) $(REPORT_ARGS)

# The lab lb1's access log, summarised: requests per sticky decision and per backend.
logs: venv
	@$(PYTHON) tools/sticky_log.py --container stickylab-lab-lb1 $(LOG_ARGS)

# Benchmarks on the container lab (brought up if needed) and nginx.conf growth on this machine:
# docs/benchmarks.md and .json; leaves the default lab (3 app hosts, cookie) up. Mitogen goes
# into the venv for the deployment section's opt-in row only; site.yml never needs it.
# Without the lab: .venv/bin/python tools/bench.py --only-config-growth --output-dir /tmp/bench
# Side by side with an earlier commit (a worktree of it, its own `make lab`; about 15 minutes more):
#   make bench BENCH_ARGS="--baseline 5da8472 --baseline-env ANSIBLE_STRATEGY=linear"
bench: deps venv engine
	$(PYTHON) -m pip install --quiet mitogen==0.3.54
	@$(PYTHON) tools/labctl.py up --strategy cookie --port $(LAB_PORT)
	$(PYTHON) tools/bench.py $(BENCH_ARGS)

screenshot:
	@python3 tools/labctl.py screenshot --port $(LAB_PORT)

lab-down: venv
	@$(PYTHON) tools/labctl.py down

clean: lab-down
	rm -rf $(VENV) .pytest_cache app/dist

# --- The Vagrant lab on Vagrant's docker provider (no hypervisor here) ----------------------
# Machines start in parallel, so nothing is provisioned until all four exist; then one
# ansible run (defined on app3, the last machine) provisions them all.
VAGRANT_LB_PORT ?= 8081
export VAGRANT_DEFAULT_PROVIDER ?= docker
export VAGRANT_LB_PORT
export STRATEGY

vagrant-deps: deps
	@python3 tools/labctl.py vagrant-deps

vagrant-lab: vagrant-deps venv engine
	@$(PYTHON) tools/labctl.py vagrant-image
	vagrant validate --ignore-provider
	vagrant up --no-provision
	vagrant provision app3
	@$(PYTHON) tools/sticky_report.py http://127.0.0.1:$(VAGRANT_LB_PORT)/

vagrant-down:
	@if command -v vagrant >/dev/null; then vagrant destroy -f; fi

# End to end in CI: up, provision, every session sticky through the forwarded port, destroy
# (also when a step failed).
vagrant-test: vagrant-deps venv engine
	@$(PYTHON) tools/labctl.py vagrant-image
	vagrant validate --ignore-provider
	@status=0; \
	  { vagrant up --no-provision && vagrant provision app3 && \
	    $(PYTHON) tools/sticky_report.py http://127.0.0.1:$(VAGRANT_LB_PORT)/ --fail-under 1.0 --min-servers 3; } || status=$$?; \
	  vagrant destroy -f; exit $$status
