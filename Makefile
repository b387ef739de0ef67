# Two commands work on a fresh machine:  `make demo` (the main job) and `make test`.
# Both create their own virtual environment and install torch first, so that no multi-GB CUDA
# build is pulled in on a CPU machine; GPU users override it: make demo TORCH="torch==2.13.0".
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
OUT ?= out

.PHONY: venv demo test study lint clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	# the pkuseg backend (an extra): its setup.py needs numpy and cython already installed
	$(BIN)/python -m pip install -q numpy cython
	$(BIN)/python -m pip install -q --no-build-isolation "pkuseg==0.0.25"
	touch $@

# The main job: fetch a real corpus (35k reviews, verified by sha256) and discover its new words.
demo: venv
	mkdir -p $(OUT)
	$(BIN)/zhnlp discover-words "$$($(BIN)/zhnlp corpus get reviews)" -o $(OUT)/reviews-words.tsv
	head -n 31 $(OUT)/reviews-words.tsv

test: venv
	$(BIN)/ruff check .
	$(BIN)/pytest -q

# The pretraining study scaled down (tiny model, 1.5M characters, two FewCLUE tasks): its
# shape in minutes; `benchmarks/study.py --help` runs the real one arm by arm.
study: venv
	$(BIN)/python benchmarks/study.py all --scale demo

clean:
	rm -rf $(VENV) .venv-ci $(OUT)
