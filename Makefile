# imagegen — the two commands a newcomer needs are `make run` and `make test`.
# Everything else is for contributors and CI.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
UV_DIR := .tools/uv
UV := $(UV_DIR)/bin/uv
# The interpreter uv builds .venv with; never one uv would download.
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
# Redis, PostgreSQL and nginx: the servers tests start; chromium: the browser the console's tests
# drive (Playwright, never a downloaded browser). `make run` needs none unless CONFIG names one.
SYSTEM_DEPS ?= redis-server postgresql nginx chromium
NODE_STAMP := node_modules/.installed
# LiteLLM in a venv of its own (see litellm-venv): the bench's rival and a test peer.
LITELLM_VENV := bench/.venv-litellm
LITELLM_STAMP := $(LITELLM_VENV)/.installed
BUF := npx --no-install buf
PORT ?= 50051
# Empty: the config's server_settings.http_port (4000 by default).
HTTP_PORT ?=

.PHONY: setup lock lock-check system-deps run test lint breaking proto clients clients-test check-gen ci clean soak bench litellm-venv bench-burst docs docs-gen docs-check

## setup: create .venv from uv.lock (hash-checked) with the imagegen command and dev tools,
## the system servers the tests start, and buf / ts-proto from npm
setup: $(VENV_STAMP) $(NODE_STAMP) system-deps

# uv itself comes from PyPI at a pinned version with its hashes, into a venv of its own:
# `uv sync` would remove it from .venv as a package the lock does not name.
$(UV): scripts/uv-requirements.txt
	$(PYTHON) -c 'import sys; sys.exit("imagegen needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv --clear $(UV_DIR)
	$(UV_DIR)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
	  -r scripts/uv-requirements.txt

## lock: re-resolve uv.lock from pyproject.toml (run after changing a dependency)
lock: $(UV)
	$(UV) lock
	$(UV) pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	  --output-file bench/litellm-requirements.txt bench/litellm-requirements.in

## lock-check: uv.lock must match pyproject.toml (CI fails here when someone forgot `make lock`)
lock-check: $(UV)
	@$(UV) lock --check --quiet || { \
	  echo "uv.lock is stale against pyproject.toml: run 'make lock' and commit uv.lock" >&2; exit 1; }

# --locked: install exactly what uv.lock says (hashes checked), and fail if it is stale.
$(VENV_STAMP): pyproject.toml uv.lock $(UV)
	@$(MAKE) --no-print-directory lock-check
	$(UV) sync --locked --quiet --extra dev
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## system-deps: the servers the tests start for real (redis-server, PostgreSQL, nginx) and chromium; apt-get as root
system-deps:
	@scripts/system_deps.sh $(SYSTEM_DEPS)

## run: serve the gateway on :$(PORT), HTTP on :4000 or HTTP_PORT (embedded offline default, or CONFIG=path/to/config.yaml)
run: $(VENV_STAMP)
	@$(if $(CONFIG),packages=$$($(PY) scripts/config_services.py $(CONFIG)) && scripts/system_deps.sh $$packages)
	$(VENV)/bin/imagegen serve --port $(PORT) $(if $(HTTP_PORT),--http-port $(HTTP_PORT)) $(if $(CONFIG),--config $(CONFIG))

## test: the test suite (real gRPC server and fake providers on loopback; no keys, no network)
test: $(VENV_STAMP) $(LITELLM_STAMP) system-deps
	@$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; \
	exit $$rc

## soak: ten minutes of mixed load on a real server process; RSS and descriptors must stay flat
soak: $(VENV_STAMP)
	$(PY) scripts/soak.py --seconds $(or $(SOAK_SECONDS),600)

## lint: lock check, buf lint (STANDARD + COMMENTS, SERVICE_SUFFIX excepted), ruff, mypy --strict, the layer contracts, tsc on the console's JS
lint: setup lock-check
	$(BUF) lint
	$(BUF) format --diff --exit-code --path protos/imagegen
	$(VENV)/bin/ruff check service tests scripts clients/python bench
	$(VENV)/bin/ruff format --check service tests scripts clients/python bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	npx --no-install tsc -p service/imagegen/http/console/tsconfig.json

## breaking: the contract must stay wire- and source-compatible with the previous commit (buf FILE rules)
breaking: $(NODE_STAMP)
	@if git rev-parse -q --verify HEAD~1 >/dev/null; then \
	  $(BUF) breaking --against '.git#ref=HEAD~1'; \
	else echo "breaking: no previous commit to compare with"; fi

## proto: regenerate the Python stubs and the Go, TypeScript, Java clients from protos/ (committed)
proto: $(VENV_STAMP) clients
	$(PY) scripts/gen_python.py

## clients: regenerate clients/go, clients/node and clients/java from protos/ (see clients/README.md)
clients: $(NODE_STAMP)
	clients/scripts/tools.sh codegen
	$(BUF) generate
	$(BUF) generate --template clients/node/buf.gen.yaml

## clients-test: build the Go, TypeScript and Java examples and run them and grpcurl against a live gateway
clients-test: $(VENV_STAMP)
	clients/scripts/test.sh

## check-gen: regenerated code must match what is committed
check-gen: proto
	git diff --exit-code -- service/imagegen/_gen clients
	@test -z "$$(git status --porcelain -- service/imagegen/_gen clients)" || \
	  { echo "untracked generated files:"; git status --porcelain -- service/imagegen/_gen clients; exit 1; }

## docs-gen: regenerate docs/reference/ (gRPC API from the protos, config keys, model tables)
docs-gen: $(VENV_STAMP)
	$(PY) -m scripts.docgen

## docs-check: the generated reference pages must match what the generators make now
docs-check: $(VENV_STAMP)
	$(PY) -m scripts.docgen --check

## docs: build the documentation site into site/ (strict: broken links, missing pages fail)
# No --quiet: it silences the warnings that --strict turns into a failure.
docs: $(VENV_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --clean
	@echo "docs: site/index.html"

## ci: everything CI runs
ci: setup lint breaking check-gen docs-check docs test clients-test

## bench: gateway vs direct vs LiteLLM 1.80.0 on loopback; writes bench/RESULTS.md and bench/plot.png
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_BUDGET ?= 840

$(BENCH_STAMP): $(VENV_STAMP) pyproject.toml uv.lock
	$(UV) sync --locked --quiet --extra dev --extra bench
	touch $@

# LiteLLM in a venv of its own: it is what we compare against, never a project dependency.
# Locked too (bench/litellm-requirements.txt, hashes), so both sides of the comparison stay put.
$(LITELLM_STAMP): bench/litellm-requirements.txt $(UV)
	$(UV) venv --quiet --allow-existing $(LITELLM_VENV)
	VIRTUAL_ENV=$(LITELLM_VENV) $(UV) pip sync --quiet --require-hashes bench/litellm-requirements.txt
	touch $@

## litellm-venv: LiteLLM's locked venv (bench/.venv-litellm): the bench's rival, and the SDK the tests call the HTTP door with
litellm-venv: $(LITELLM_STAMP)

## bench-burst: scenario (e), 1,000 and 2,000 answers landing at once, with and without the memory budget
bench-burst: $(BENCH_STAMP)
	timeout --signal=TERM --kill-after=30 1500 $(PY) bench/burst.py

bench: $(BENCH_STAMP) $(LITELLM_STAMP)
	timeout --signal=TERM --kill-after=30 $(BENCH_BUDGET) $(PY) bench/run_all.py --workers

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .tools clients/node/node_modules \
	  clients/node/dist clients/java/target site
