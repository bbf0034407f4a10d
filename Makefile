# The two commands a newcomer needs:
#   make run   set everything up and serve the portal with demo data (SQLite, tasks in-process)
#   make test  set everything up and run the whole test suite against PostgreSQL and Redis
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages: pango for WeasyPrint's PDFs; Chromium for the browser tests.
RUN_APT_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
TEST_APT_PACKAGES := $(RUN_APT_PACKAGES) chromium

TEST_ENV := PORTAL_ENV=test \
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portal} \
	CELERY_BROKER_URL=$${TEST_BROKER_URL:-redis://127.0.0.1:6379/15}

.PHONY: run test setup assets lint format messages clean system-deps-run system-deps-test apt-install services-check

run: system-deps-run setup
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	@echo
	@echo "Helsenett Selvbetjening: http://127.0.0.1:8000  (stop with Ctrl+C)"
	$(PY) manage.py runserver 127.0.0.1:8000

test: system-deps-test setup services-check lint
	DATABASE_URL=sqlite://:memory: $(PY) manage.py makemigrations --check --dry-run
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.installed assets

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Designsystemet, the Inter font and axe-core come from the npm registry, never a CDN.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

assets: node_modules/.installed
	mkdir -p static/vendor/designsystemet static/vendor/inter
	cp node_modules/@digdir/designsystemet-css/dist/src/index.css static/vendor/designsystemet/designsystemet.css
	cp node_modules/@digdir/designsystemet-theme/brand/digdir.css static/vendor/designsystemet/theme.css
	cp node_modules/@fontsource/inter/files/inter-latin-{400,500,600,700}-normal.woff2 static/vendor/inter/

system-deps-run:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(RUN_APT_PACKAGES)"

system-deps-test:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT_PACKAGES)"

apt-install:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing from Debian:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

services-check:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not answering on 127.0.0.1:5432 (see README: Tests)"; exit 1; }
	@$(PY) -c 'import redis, sys; redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2).ping()' \
		|| { echo "Redis is not answering on 127.0.0.1:6379 (see README: Tests)"; exit 1; }

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format:
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Needs gettext; the compiled .mo is committed so neither command above needs it.
messages:
	$(PY) manage.py makemessages -l nb --ignore=node_modules --ignore=.venv --ignore=staticfiles
	$(PY) manage.py compilemessages -l nb --ignore=node_modules --ignore=.venv

clean:
	rm -rf $(VENV) node_modules static/vendor staticfiles db.sqlite3 test-artifacts
