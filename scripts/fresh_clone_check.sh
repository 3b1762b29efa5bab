#!/usr/bin/env bash
# Proves the README's two commands work from nothing: clones this repository's committed HEAD
# into a temporary directory, then times `make setup`, `make lint`, `make test` and a `make run`
# smoke call there, each with a fresh .venv. Uncommitted changes are not part of the check.
#
#   scripts/fresh_clone_check.sh [--cold-cache] [--keep]
#     --cold-cache  empty uv and npm caches too, as on a machine that never installed anything
#     --keep        leave the clone in place (its path is printed)
set -euo pipefail

cold=0 keep=0
for arg in "$@"; do
  case "$arg" in
    --cold-cache) cold=1 ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [--cold-cache] [--keep]" >&2; exit 2 ;;
  esac
done

source_repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d -t imagegen-fresh-XXXXXX)
serve_pid=""
cleanup() {
  [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null || true
  if ((keep)); then echo "clone kept at $work/imagegen"; else rm -rf "$work"; fi
}
trap cleanup EXIT

if ((cold)); then
  export UV_CACHE_DIR="$work/uv-cache" npm_config_cache="$work/npm-cache"
fi

declare -a names=() seconds=()
step() { # step NAME COMMAND...: runs COMMAND in the clone, logs to NAME.log, records its time
  local name=$1 start
  shift
  echo "== $name: $*"
  start=$SECONDS
  if ! (cd "$work/imagegen" && "$@") >"$work/$name.log" 2>&1; then
    tail -n 40 "$work/$name.log"
    echo "FAILED: $name (full log: $work/$name.log)" >&2
    keep=1
    exit 1
  fi
  names+=("$name")
  seconds+=("$((SECONDS - start))")
  tail -n 2 "$work/$name.log"
}

smoke_run() { # `make run` on a free port until one generate call succeeds through it
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # `make run` starts the HTTP door too: on a free port, never one another run may hold.
  setsid make run PORT="$port" HTTP_PORT=0 >"$work/run-server.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 1 120); do
    if .venv/bin/imagegen generate "a fresh-clone otter" --size 64x64 --out "$work/otter.png" \
      --target "127.0.0.1:$port" --timeout 5 >/dev/null 2>&1; then
      kill -- "-$serve_pid" 2>/dev/null || true
      wait "$serve_pid" 2>/dev/null || true
      serve_pid=""
      python3 -c 'import sys; data = open(sys.argv[1], "rb").read()
assert data.startswith(b"\x89PNG"), "not a PNG"; print(f"make run served a {len(data)}-byte PNG")' \
        "$work/otter.png"
      return 0
    fi
    sleep 0.5
  done
  cat "$work/run-server.log"
  return 1
}

echo "cloning $source_repo (HEAD $(git -C "$source_repo" rev-parse --short HEAD)) into $work"
git clone --quiet "$source_repo" "$work/imagegen"

step setup make setup
step setup-again make setup
step lint make lint
step test make test
step run smoke_run

echo
echo "| step | seconds |"
echo "| --- | ---: |"
for i in "${!names[@]}"; do echo "| ${names[$i]} | ${seconds[$i]} |"; done
# The second `make setup` must find nothing to do.
if grep -qv -e '^make' -e '^$' "$work/setup-again.log"; then
  echo "the second 'make setup' did work:" >&2
  cat "$work/setup-again.log" >&2
  exit 1
fi
