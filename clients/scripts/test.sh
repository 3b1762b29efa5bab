#!/usr/bin/env bash
# `make clients-test`: builds the Go, TypeScript and Java clients, starts a gateway on a
# free loopback port, runs each client's example and a set of grpcurl calls against it,
# and checks what they print and write. Every step has a time limit, and the gateway is
# stopped however the script ends.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

IMAGEGEN="$ROOT/.venv/bin/imagegen"
PYTHON="$ROOT/.venv/bin/python"
GRPCURL="$TOOLS_BIN/grpcurl"
PROMPT="a lighthouse on a cliff at dusk" # the examples' prompt: same prompt, same placeholder image
PNG_SIGNATURE="89504e470d0a1a0a"

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    # The test config's grace period is 1 s; past 10 s something is wrong.
    for _ in $(seq 100); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect NAME FILE REGEX: FILE (a program's output) has a line matching the extended REGEX.
expect() {
  if ! grep -Eq -- "$3" "$2"; then
    fail "$1: no line matching /$3/ in its output"
  fi
}

is_png() {
  [[ -s "$1" && "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" == "$PNG_SIGNATURE" ]]
}

step() {
  echo "== $*"
}

[[ -x "$IMAGEGEN" ]] || {
  echo "no $IMAGEGEN: run \`make setup\` first" >&2
  exit 1
}

step "tools: grpcurl"
timeout 600 "$ROOT/clients/scripts/tools.sh" grpcurl

step "build: Go (gofmt, go vet, go build)"
(
  cd clients/go
  unformatted=$(gofmt -l .)
  [[ -z "$unformatted" ]] || { echo "not gofmt-formatted: $unformatted" >&2; exit 1; }
  timeout 600 go vet ./...
  timeout 600 go build -o "$work/go-example" ./cmd/example
)

step "build: TypeScript (npm ci, tsc)"
(cd clients/node && timeout 600 npm ci --no-audit --no-fund --loglevel=error && timeout 300 npx --no-install tsc -p tsconfig.json)

step "build: Java (mvn package)"
(cd clients/java && timeout 900 "${MVN[@]}" package)

step "gateway: imagegen serve on a free loopback port"
# No provider keys: the embedded default would add OpenAI models with one; the test
# config serves only the offline placeholder model anyway.
env -u OPENAI_API_KEY "$IMAGEGEN" serve --config clients/testdata/gateway.yaml \
  --host 127.0.0.1 --port 0 --no-http >"$work/server.log" 2>&1 &
server_pid=$!
# --port 0 lets the OS pick a free port (no race); the server logs the one it bound once
# it is serving (server/app.py).
port=""
for _ in $(seq 300); do # up to 30 s
  port=$(sed -n 's/.*serving imagegen\.v1\.ImageGeneration on port \([0-9][0-9]*\).*/\1/p' "$work/server.log")
  [[ -n "$port" ]] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$port" ]]; then
  echo "the gateway did not start; its log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
address="127.0.0.1:$port"
timeout 30 "$GRPCURL" -plaintext "$address" grpc.health.v1.Health/Check | grep -q SERVING
echo "serving on $address"

# run_example NAME COMMAND...: runs one example, prints its output and checks it.
run_example() {
  local name=$1
  shift
  local out="$work/$name.out" dir="$work/$name"
  mkdir -p "$dir"
  step "example: $name"
  if ! timeout 120 "$@" "$address" "$dir" >"$out" 2>&1; then
    cat "$out"
    fail "$name: the example exited with an error"
    return
  fi
  cat "$out"
  expect "$name" "$out" "^unary: wrote .*/$name-unary\.png \([0-9]+ bytes, image/png, 1024x1024\)$"
  expect "$name" "$out" "^unary: trailer x-imagegen-response-cost=0$"
  expect "$name" "$out" "^stream: accepted request_id=[0-9a-f]+ .* provider=local n=2$"
  # The test gateway's 16 KiB chunks make every streamed image several messages.
  expect "$name" "$out" "^stream: image index=0 wrote .*/$name-stream-0\.png \([0-9]+ bytes, image/png, [2-9] message\(s\)\)$"
  expect "$name" "$out" "^stream: image index=1 wrote .*/$name-stream-1\.png \([0-9]+ bytes, image/png, [2-9] message\(s\)\)$"
  expect "$name" "$out" "^stream: summary image_count=2 cost=0 attempts=1$"
  expect "$name" "$out" "^stream: trailer x-imagegen-response-cost=0$"
  expect "$name" "$out" "^edit: wrote .*/$name-edit\.png \([0-9]+ bytes, image/png, 1024x1024\) from 2 images and a mask$"
  expect "$name" "$out" "^edit: trailer x-imagegen-response-cost=0$"
  expect "$name" "$out" "^error: code=INVALID_ARGUMENT reason=INVALID_PARAMETER domain=imagegen "
  for image in unary stream-0 stream-1 edit; do
    is_png "$dir/$name-$image.png" || fail "$name: $name-$image.png is not a PNG"
  done
  # The placeholder image depends only on prompt, seed and index: the reassembled
  # stream image 0 must be byte for byte the unary image.
  cmp -s "$dir/$name-unary.png" "$dir/$name-stream-0.png" ||
    fail "$name: the reassembled streamed image differs from the unary one"
  # The edit repainted the masked area: it is not its input.
  ! cmp -s "$dir/$name-unary.png" "$dir/$name-edit.png" ||
    fail "$name: the edited image is its input unchanged"
}

run_example go "$work/go-example"
run_example node node clients/node/dist/example.js
run_example java java -jar clients/java/target/imagegen-example.jar
run_example python "$PYTHON" clients/python/example.py

for name in node java python; do
  cmp -s "$work/go/go-unary.png" "$work/$name/$name-unary.png" ||
    fail "$name: its unary image differs from the Go example's"
  # Same inputs, mask and prompt: the placeholder's edit is the same bytes in every language.
  cmp -s "$work/go/go-edit.png" "$work/$name/$name-edit.png" ||
    fail "$name: its edited image differs from the Go example's"
done

step "grpcurl (server reflection, no proto files)"
grpcurl() {
  timeout 60 "$GRPCURL" -plaintext -max-msg-sz $((64 << 20)) "$@"
}
grpcurl "$address" list >"$work/list.out"
expect "grpcurl list" "$work/list.out" "^imagegen\.v1\.ImageGeneration$"
grpcurl "$address" describe imagegen.v1.ImageGeneration >"$work/describe.out"
expect "grpcurl describe" "$work/describe.out" "rpc StreamGenerateImages \( \.imagegen\.v1\.StreamGenerateImagesRequest \) returns \( stream "
grpcurl -d "{\"prompt\": \"$PROMPT\", \"model\": \"placeholder\"}" \
  "$address" imagegen.v1.ImageGeneration/GenerateImages >"$work/unary.json"
"$PYTHON" -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["images"][0]["data"]))' \
  <"$work/unary.json" >"$work/grpcurl-unary.png"
cmp -s "$work/go/go-unary.png" "$work/grpcurl-unary.png" ||
  fail "grpcurl: its unary image differs from the Go example's"
grpcurl -v -d '{"prompt": "a lighthouse", "model": "placeholder"}' \
  "$address" imagegen.v1.ImageGeneration/GenerateImages >"$work/unary-v.out"
expect "grpcurl -v" "$work/unary-v.out" "^Response trailers received:$"
expect "grpcurl -v" "$work/unary-v.out" "^x-imagegen-response-cost: 0$"
grpcurl -d '{"prompt": "a lighthouse", "model": "placeholder", "n": 2}' \
  "$address" imagegen.v1.ImageGeneration/StreamGenerateImages >"$work/stream.json"
expect "grpcurl stream" "$work/stream.json" '^  "accepted": \{$'
# grpcurl prints proto field names (image_chunk), not JSON ones (imageChunk).
expect "grpcurl stream" "$work/stream.json" '^  "image_chunk": \{$'
expect "grpcurl stream" "$work/stream.json" '^  "summary": \{$'
# EditImages from reflection alone: two images (base64 in grpcurl's JSON) and a mask.
b64() { "$PYTHON" -c 'import base64, sys; print(base64.b64encode(open(sys.argv[1], "rb").read()).decode())' "$1"; }
printf '{"prompt": "a red hat", "model": "placeholder", "operation": "EDIT_OPERATION_INPAINT", "images": ["%s", "%s"], "mask": "%s"}' \
  "$(b64 "$work/go/go-unary.png")" "$(b64 "$work/go/go-stream-1.png")" "$(b64 clients/testdata/edit-mask.png)" >"$work/edit-request.json"
grpcurl -d @ "$address" imagegen.v1.ImageGeneration/EditImages <"$work/edit-request.json" >"$work/edit.json"
"$PYTHON" -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["images"][0]["data"]))' \
  <"$work/edit.json" >"$work/grpcurl-edit.png"
cmp -s "$work/go/go-edit.png" "$work/grpcurl-edit.png" ||
  fail "grpcurl: its edited image differs from the Go example's"
if grpcurl -d '{"prompt": "", "model": "placeholder"}' \
  "$address" imagegen.v1.ImageGeneration/GenerateImages >"$work/error.out" 2>&1; then
  fail "grpcurl: an empty prompt was accepted"
fi
expect "grpcurl error" "$work/error.out" "^  Code: InvalidArgument$"
expect "grpcurl error" "$work/error.out" '"reason": "INVALID_PARAMETER"'
echo "grpcurl: list, describe, unary (image and trailers), streaming, an edit (two images and a mask) and error details checked"

step "docs: the grpcurl examples of README.md and docs/ (skipped by make test without grpcurl)"
IMAGEGEN_DOCS_REQUIRE_GRPCURL=1 timeout 300 "$PYTHON" -m pytest -q -p no:cacheprovider \
  tests/test_docs_examples.py -k grpcurl >"$work/docs-grpcurl.out" 2>&1 ||
  { cat "$work/docs-grpcurl.out" >&2; fail "docs: a grpcurl example failed"; }
tail -n 1 "$work/docs-grpcurl.out"

if ((failures > 0)); then
  echo "clients-test: $failures check(s) failed; the gateway's log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
echo "clients-test: the Go, TypeScript and Java examples and grpcurl all work against a live gateway"
