# Two commands: `make run` starts the whole platform, `make test` runs the suite.
# `make demo-models` retrains the demo model pack shipped in generation/demo_models.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: run test lint format install install-dev demo-models demo-eval

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# invisible-watermark without its dependencies: it asks for opencv-python, which would put a
# second cv2 over opencv-python-headless; what else it needs is in pyproject.toml.
WATERMARK := invisible-watermark==0.2.0

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e .
	$(PIP) install --no-deps $(WATERMARK)
	touch $@

$(VENV)/.installed-dev: pyproject.toml clients/python/pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[dev]'
	$(PIP) install -e ./clients/python  # the imprimatur client and CLI (tests/clients run it)
	$(PIP) install --no-deps $(WATERMARK)
	touch $@ $(VENV)/.installed

# axe-core, which the browser tests run in every page of the tour (package-lock.json).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev node_modules/.installed

run: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	$(PY) manage.py model_register --if-missing --organization acme --name demo-shapes \
		--display-name "Demo shapes (tiny SD trained here, 64×64)" \
		--capabilities text-to-image,image-to-image,inpainting --sizes 64 \
		--default-steps 25 --default-guidance 5 --projects spring-campaign \
		--licence-note "Demo pack trained by train_demo_models on procedural images; Apache-2.0."
	$(PY) manage.py demo_brand_kit
	$(PY) manage.py provenance_init
	$(PY) manage.py run_platform

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit -q -c pyproject.toml -r imprimatur governance generation tools

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo-models: install
	$(PY) manage.py train_demo_models $(TRAIN_ARGS)

demo-eval: install
	$(PY) bench/demo_model_eval.py $(EVAL_ARGS)
