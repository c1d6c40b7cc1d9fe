# minifast's set-up and test commands. Each target does all of its own set-up:
# a virtual environment in .venv (torch's CPU wheel 2.13.0 first, so nothing pulls a CUDA
# build), the package in editable mode with its dev and text extras, and the data.
SHELL := /bin/bash
PY    := .venv/bin/python
PIP   := .venv/bin/pip
TORCH ?= torch==2.13.0
# The course data shipped beside a checkout (official MNIST IDX files, Imagenette sample,
# IMDB texts); users elsewhere get the data downloaded by minifast.datasets instead.
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export MINIFAST_DATA ?= $(SHARED_DATA)
endif
FLAGS ?=

.PHONY: help venv data test lab export clean-nbs check-export readme check-readme check-lines train train-quick record bench

help:
	@echo "make train  - set everything up and train the Fashion-MNIST record (minifast_train --preset record, into out/)"
	@echo "make train-quick - the same with minifast_train's defaults: a small CNN, under a minute"
	@echo "make record - the record into out-record/ (as make train)"
	@echo "make lab    - set everything up and open the course in JupyterLab"
	@echo "make test   - set everything up and run the test suite (every notebook)"
	@echo "make export - export the notebooks into the minifast package"
	@echo "make readme - write README.md from nbs/index.ipynb (edit the notebook, never README.md)"
	@echo "make docs   - build the published docs site into _docs/ (docs-test: check it in Chromium)"
	@echo "make bench  - run the benchmarks in bench/ against fastai, PyTorch and spaCy; writes bench/RESULTS.md"

venv: .venv/.installed

.venv/.installed: settings.ini setup.py
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -qq --upgrade pip
	$(PIP) install -qq "$(TORCH)"
	$(PIP) install -qq -e ".[dev]"
	touch $@

# Fashion-MNIST: Debian packages the official IDX files; minifast.datasets finds them in
# /usr/share/datasets/fashion-mnist. Without root or apt, minifast downloads them instead.
data:
	@if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	      || echo "note: could not install dataset-fashion-mnist; minifast will download Fashion-MNIST"; \
	  else echo "note: dataset-fashion-mnist not installed; minifast will download Fashion-MNIST"; fi; \
	fi

export: venv
	.venv/bin/nbdev_export

# The package must be exactly what the notebooks export.
check-export: venv
	.venv/bin/nbdev_export
	@if [ -n "$$(git status --porcelain -- minifast 2>/dev/null)" ]; then \
	  echo "minifast/ differs from the notebooks: run 'make export' and commit"; \
	  git status --porcelain -- minifast; exit 1; fi

clean-nbs: venv
	.venv/bin/nbdev_clean

# README.md is generated from nbs/index.ipynb (the docs home page) by tools/readme.py, without quarto.
readme: venv
	$(PY) tools/readme.py

check-readme: venv
	$(PY) tools/readme.py --check

# No line of minifast/*.py may be longer than 120 characters (part of `make test`; fix long lines in the notebooks).
check-lines: venv
	$(PY) tools/check_lines.py

test: venv data check-export check-readme check-lines
	$(PY) tools/run_tests.py $(if $(FLAGS),--flags "$(FLAGS)")

# JupyterLab on the course notebooks, at http://localhost:$(LAB_PORT)/lab with the token Jupyter prints.
# LAB_PORT picks the port (Jupyter may not move to another one: the printed URL stays true); LAB_IP=0.0.0.0 listens
# on every interface, to reach a container or a remote machine from elsewhere. As root (uid 0, as in most containers)
# Jupyter needs --allow-root, and no browser is opened.
LAB_PORT ?= 8888
LAB_IP ?=
lab: venv data
	@if [ "$$(id -u)" = 0 ]; then as_root="--allow-root --no-browser"; else as_root=; fi; \
	case "$(LAB_IP)" in \
	  ''|localhost|127.0.0.1) where="http://localhost:$(LAB_PORT)/lab (LAB_IP=0.0.0.0 to reach it from elsewhere)";; \
	  0.0.0.0|'::') addrs=$$(hostname -I 2>/dev/null | tr -s ' ' | sed 's/ $$//'); \
	    where="http://localhost:$(LAB_PORT)/lab here, or http://<address>:$(LAB_PORT)/lab from elsewhere$${addrs:+ (this machine: $$addrs)}";; \
	  *) where="http://$(LAB_IP):$(LAB_PORT)/lab";; \
	esac; \
	echo "Starting JupyterLab on $$where; log in with the token in the URL Jupyter prints below. Ctrl-C stops it."; \
	exec .venv/bin/jupyter lab nbs --port=$(LAB_PORT) --ServerApp.port_retries=0 $(if $(LAB_IP),--ip=$(LAB_IP)) $$as_root

# The docs site without quarto (tools/docs/build.py): the notebooks executed as nbdev_test runs
# them (the copies `make test` saved are reused), processed by nbdev, rendered by mkdocs into
# _docs/ (open _docs/index.html). This is the published site (.github/workflows/deploy.yaml); with quarto
# installed, `.venv/bin/nbdev_docs` builds a quarto version for local use. DOCS_ARGS passes options,
# e.g. DOCS_ARGS=--no-exec for a quick look.
.PHONY: docs docs-test
docs: venv data
	$(PY) tools/docs/build.py $(DOCS_ARGS)

# The built site in headless Chromium: titles, API entries, links, plots; screenshots in build/docs/screenshots/.
docs-test: docs
	$(PY) tools/docs/browser_test.py --all

# Benchmarks side by side with fastai, plain PyTorch and plain spaCy: bench/_run_all.py runs every bench/*.py and
# writes bench/RESULTS.md. fastai needs fastcore 2 while nbdev (in .venv) needs fastcore 1, so they run in a venv of
# their own: the same torch first, then what the fastai parts used import (bench/requirements-fastai.txt), fastai with
# --no-deps (its metadata asks for torchvision, which only fastai.vision imports) and minifast itself (no fastcore
# dependency), so that each script times minifast and fastai in one process.
BENCH_VENV := .cache/bench-fastai-venv
$(BENCH_VENV)/.installed: bench/requirements-fastai.txt settings.ini setup.py
	test -x $(BENCH_VENV)/bin/python || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -qq "$(TORCH)"
	$(BENCH_VENV)/bin/pip install -qq "$(TORCH)" -r bench/requirements-fastai.txt
	$(BENCH_VENV)/bin/pip install -qq --no-deps fastai==2.8.12
	$(BENCH_VENV)/bin/pip install -qq --no-deps -e .
	touch $@

bench: data $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/_run_all.py

# The main job: train an image classifier on Fashion-MNIST with the record recipe of notebook 11c (about 4.5 minutes on
# 2 CPU cores), saving weights, pipeline, curves and the final accuracy under out/. ARGS passes options through.
train: venv data
	.venv/bin/minifast_train --preset record --out out $(ARGS)

# The quick version: minifast_train's own defaults (a batch-norm CNN, under a minute on 2 CPU cores).
train-quick: venv data
	.venv/bin/minifast_train --out out $(ARGS)

# The Fashion-MNIST record of notebook 11c: a small ResNet with a stride-2 stem, label smoothing, flips, bfloat16 and
# flip TTA, 5 epochs on all 60,000 images; prints the test accuracy with and without TTA. ARGS passes options through.
record: venv data
	.venv/bin/minifast_train --preset record --out out-record $(ARGS)
