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

.PHONY: help deps venv engine image lint unit molecule test lab lab-down demo report clean

help:
	@echo "make lab [STRATEGY=cookie|ip_hash|consistent_hash|round_robin|least_conn] [LAB_PORT=8080] [SCALE=3..9]"
	@echo "make report | make lab-down | make test | make lint | make unit | make molecule"

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

# Each output line carries the time of day, so the log shows what every scenario step cost.
molecule: image
	molecule test --all 2>&1 | while IFS= read -r line; do printf '%(%T)T %s\n' -1 "$$line"; done

test: deps venv lint unit molecule

lab: deps venv image
	@$(PYTHON) tools/labctl.py up --strategy $(STRATEGY) --port $(LAB_PORT) --scale $(SCALE)
	@$(PYTHON) tools/labctl.py demo --port $(LAB_PORT)

demo: venv
	@$(PYTHON) tools/labctl.py demo --port $(LAB_PORT)

# Simulated clients from distinct addresses inside lb1, so ip_hash sees distinct clients too.
report: venv
	@$(PYTHON) tools/sticky_report.py --container stickylab-lab-lb1 --ip-sources $(REPORT_ARGS)

lab-down: venv
	@$(PYTHON) tools/labctl.py down

clean: lab-down
	rm -rf $(VENV) .pytest_cache
