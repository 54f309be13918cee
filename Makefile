# Hallvakt: one Makefile for the README's two commands and the developer loop.
# `make test` bootstraps a fresh Debian machine: the Debian packages the tests
# need, a .venv with the project and its test extra, then lint, types, tests.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PACKAGES := hallvakt kiosk door_controller sync firmware_config tests/support
# Debian packages the tests and the demo use: the broker, pty plumbing, and the
# Mesa EGL/GL stack Kivy's offscreen SDL driver renders with, the kiosk's voice,
# PostgreSQL (central's production store: its tests start a private server),
# poppler-utils (pdftoppm: the report tests render PDF pages to PNG to look at them),
# the bold face of the kiosk's font (Kivy ships only the regular one),
# and headless Chromium with its driver (central's web page is tested in a real browser)
# and its translations (chromium-l10n: a Swedish browser writes dates and its own
# controls in Swedish, as the Swedish screenshots must show).
DEB_PKGS := mosquitto socat libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libmtdev1 espeak-ng \
            alsa-utils postgresql poppler-utils fonts-dejavu-core chromium chromium-driver \
            chromium-l10n

.PHONY: all demo test lint typecheck pytest bench deps-debian venv clean catalogs kiosk-screens

all: test

deps-debian:
	@missing=""; \
	for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq python3-venv; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

# gettext catalogues (the kiosk's, and central's web page's): .po sources are
# committed, .mo files are compiled here at install (Babel) and never committed.
# The domain is the catalogue's file name (kiosk.po -> kiosk, web.po -> web).
PO_FILES := $(wildcard kiosk/locale/*/LC_MESSAGES/kiosk.po) \
            $(wildcard sync/central/web/locale/*/LC_MESSAGES/web.po)
MO_FILES := $(PO_FILES:.po=.mo)
%.mo: %.po $(STAMP)
	$(VENV)/bin/pybabel -q compile -D $(basename $(notdir $<)) -i $< -o $@

catalogs: $(MO_FILES)

venv: $(STAMP) catalogs

demo: $(STAMP) catalogs
	@$(MAKE) --no-print-directory deps-debian || echo "make: Debian packages missing; the demo runs with what is installed (no mosquitto: offline)"
	$(VENV)/bin/hallvakt demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict $(PACKAGES)

pytest: $(STAMP) catalogs deps-debian
	$(PY) -m pytest

test: deps-debian $(STAMP) catalogs lint typecheck pytest

# Every benchmark prints its figures next to a baseline measured in the same run.
# No bench file may be named like a package (sync.py…): bench/ is first on sys.path.
bench: $(STAMP) catalogs
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The kiosk's screens in docs/kiosk.md, rendered from the real widgets offscreen.
kiosk-screens: $(STAMP) catalogs deps-debian
	$(PY) tests/kiosk/docshots.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
