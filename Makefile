# Two commands do all set-up: `make demo` and `make test` (fresh Debian/Ubuntu machine).
# Each creates .venv, installs scratchdl with pinned CI versions, fetches data, runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FMNIST_SYSTEM := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
DEMO_RECIPE ?= lenet-fmnist
DEMO_EPOCHS ?= 3
PYTEST_ARGS ?=
# KaTeX for the docs' equations: the npm package, pinned and checked, served from the site
KATEX_VERSION := 0.16.22
KATEX_SHA256 := e9e0d167db3175481cbadaff38e8d90b130f6a3ddb451a47e43c577fd511f365
KATEX_DIR := .cache/katex

.PHONY: demo test test-fast lint data tex bench clean docs docs-serve katex chromium

# Debian splits venv out of python3: install it when missing and we are root.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "scratchdl needs Python >= 3.11"'
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
		else echo "install python3-venv (Debian/Ubuntu) and rerun"; exit 1; fi; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,docs]'
	touch $(STAMP)

# Fashion-MNIST comes from Debian's dataset-fashion-mnist. As root install it system-wide;
# otherwise `scratchdl data fetch` unpacks the .deb into the user's cache.
data: $(STAMP)
	@if [ ! -f $(FMNIST_SYSTEM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi
	$(BIN)/scratchdl data fetch fashion-mnist
	$(BIN)/scratchdl data fetch mnist
	$(BIN)/scratchdl data fetch austen
	$(BIN)/scratchdl data fetch shakespeare
	$(BIN)/scratchdl data fetch bible-en-es
	$(BIN)/scratchdl data fetch bananas
	$(BIN)/scratchdl data fetch shapes
	$(BIN)/scratchdl data fetch movie-reviews
	$(BIN)/scratchdl data fetch glove-6b-50d
	$(BIN)/scratchdl data fetch brown-pos
	$(BIN)/scratchdl data fetch starry-night
	$(BIN)/scratchdl data fetch scenes

# A minimal TeX for the test that compiles LaTeX tables (skipped with a message without it).
tex:
	@if ! command -v pdflatex >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			texlive-latex-base texlive-latex-recommended >/dev/null || echo "no TeX: LaTeX test will skip"; \
	fi

# npm comes from Debian when missing and we are root; the tarball's SHA-256 is checked.
$(KATEX_DIR)/katex-$(KATEX_VERSION).tgz:
	@if ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; \
		else echo "install npm (Debian/Ubuntu: apt-get install npm) and rerun"; exit 1; fi; \
	fi
	mkdir -p $(KATEX_DIR)
	cd $(KATEX_DIR) && npm pack --silent katex@$(KATEX_VERSION) >/dev/null
	echo "$(KATEX_SHA256)  $@" | sha256sum -c --quiet || { rm -f $@; exit 1; }

$(KATEX_DIR)/.unpacked-$(KATEX_VERSION): $(KATEX_DIR)/katex-$(KATEX_VERSION).tgz
	rm -rf $(KATEX_DIR)/package && tar -xzf $< -C $(KATEX_DIR) && touch $@

katex: $(KATEX_DIR)/.unpacked-$(KATEX_VERSION)

# Debian's chromium for the docs' browser test (which skips, saying why, without it), and a
# CJK font so the book's Chinese section titles render in it.
chromium:
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null \
			|| echo "no chromium: the docs' browser test will skip"; \
	fi

# The course site: site/ (opens offline, also from the file system); docs-serve on localhost.
docs: $(STAMP) katex
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(STAMP) katex
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

demo: data
	$(BIN)/scratchdl run $(DEMO_RECIPE) --epochs $(DEMO_EPOCHS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: data tex lint katex chromium
	SCRATCHDL_RUNS=$$(mktemp -d) $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: data
	$(BIN)/python benchmarks/bench_loader.py

clean:
	rm -rf $(VENV) runs .pytest_cache site .cache
