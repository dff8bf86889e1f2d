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
# Molecule scenarios running at once (make molecule). Three at once on two cores was slower
# than two (load average 10; the resilience drills took three times as long).
MOLECULE_JOBS ?= 2

.PHONY: help deps venv engine image lint unit molecule test lab lab-down demo report clean \
	vagrant-deps vagrant-lab vagrant-test vagrant-down screenshot bench

help:
	@echo "make lab [STRATEGY=cookie|ip_hash|consistent_hash|round_robin|least_conn] [LAB_PORT=8080] [SCALE=1..9]"
	@echo "make report | make bench | make lab-down | make test | make lint | make unit | make molecule"
	@echo "make vagrant-lab [STRATEGY=...] | make vagrant-down | make vagrant-test   (Vagrant, docker provider)"

deps:
	@python3 tools/labctl.py deps

$(VENV)/.installed: requirements-dev.txt app/requirements.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

engine: deps
	@$(PYTHON) tools/labctl.py engine

image: deps venv engine
	@$(PYTHON) tools/labctl.py image

lint: venv
	yamllint --strict .
	ansible-lint

unit: venv
	pytest

# Every scenario, MOLECULE_JOBS at a time (tools/run_scenarios.py); each one's timestamped log goes to
# .molecule-logs/, and a failed one's log is printed whole. SCENARIOS="default ip_hash" for some.
molecule: image
	$(PYTHON) tools/run_scenarios.py --jobs $(MOLECULE_JOBS) $(SCENARIOS)

test: deps venv lint unit molecule vagrant-test

lab: deps venv image
	@$(PYTHON) tools/labctl.py up --strategy $(STRATEGY) --port $(LAB_PORT) --scale $(SCALE)
	@$(PYTHON) tools/labctl.py demo --port $(LAB_PORT)

demo: venv
	@$(PYTHON) tools/labctl.py demo --port $(LAB_PORT)

# Simulated clients from distinct addresses inside lb1, so ip_hash sees distinct clients too.
report: venv
	@$(PYTHON) tools/sticky_report.py --container stickylab-lab-lb1 --ip-sources $(REPORT_ARGS)

# Benchmarks on the container lab (brought up if needed): docs/benchmarks.md and .json, ~15 min;
# leaves the default lab (3 app hosts, cookie) up.
bench: deps venv image
	@$(PYTHON) tools/labctl.py up --strategy cookie --port $(LAB_PORT)
	$(PYTHON) tools/bench.py $(BENCH_ARGS)

screenshot:
	@python3 tools/labctl.py screenshot --port $(LAB_PORT)

lab-down: venv
	@$(PYTHON) tools/labctl.py down

clean: lab-down
	rm -rf $(VENV) .pytest_cache

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
