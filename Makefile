# imagegen — the two commands a newcomer needs are `make run` and `make test`.
# Everything else is for contributors and CI.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
BUF := npx --no-install buf
PORT ?= 50051

.PHONY: setup run test lint breaking proto clients clients-test check-gen ci clean soak bench

## setup: create .venv with the imagegen command and dev tools (and buf, ts-proto from npm)
setup: $(VENV_STAMP) $(NODE_STAMP)

$(VENV_STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("imagegen needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## run: serve the gateway on :$(PORT) (embedded offline default, or CONFIG=path/to/config.yaml)
run: $(VENV_STAMP)
	$(VENV)/bin/imagegen serve --port $(PORT) $(if $(CONFIG),--config $(CONFIG))

## test: the test suite (real gRPC server and fake providers on loopback; no keys, no network)
test: $(VENV_STAMP)
	@$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; \
	exit $$rc

## soak: ten minutes of mixed load on a real server process; RSS and descriptors must stay flat
soak: $(VENV_STAMP)
	$(PY) scripts/soak.py --seconds $(or $(SOAK_SECONDS),600)

## lint: buf lint (STANDARD + COMMENTS, SERVICE_SUFFIX excepted), ruff, mypy --strict, the layer contracts
lint: setup
	$(BUF) lint
	$(BUF) format --diff --exit-code --path protos/imagegen
	$(VENV)/bin/ruff check service tests scripts clients/python bench
	$(VENV)/bin/ruff format --check service tests scripts clients/python bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

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

## ci: everything CI runs
ci: setup lint breaking check-gen test clients-test

## bench: gateway vs direct vs LiteLLM 1.80.0 on loopback; writes bench/RESULTS.md and bench/plot.png
LITELLM_VENV := bench/.venv-litellm
LITELLM_STAMP := $(LITELLM_VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_BUDGET ?= 840

$(BENCH_STAMP): $(VENV_STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

# LiteLLM in a venv of its own: it is what we compare against, never a project dependency.
$(LITELLM_STAMP):
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LITELLM_VENV)/bin/python -m pip install --quiet 'litellm[proxy]==1.80.0'
	touch $@

bench: $(BENCH_STAMP) $(LITELLM_STAMP)
	timeout --signal=TERM --kill-after=30 $(BENCH_BUDGET) $(PY) bench/run_all.py --workers

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .tools clients/node/node_modules \
	  clients/node/dist clients/java/target
