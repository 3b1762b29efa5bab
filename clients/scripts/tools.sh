#!/usr/bin/env bash
# Installs the pinned client tooling into .tools/bin (gitignored), from the Go module
# proxy and Maven Central. A tool is installed again only when its pin changes.
#
#   clients/scripts/tools.sh codegen   protoc-gen-go, protoc-gen-go-grpc, protoc and
#                                      protoc-gen-grpc-java, for `make clients`
#   clients/scripts/tools.sh grpcurl   grpcurl, for `make clients-test`
#
# ts-proto and buf come from the root package.json (`make setup`).
set -euo pipefail
source "$(dirname "$0")/env.sh"

# The pins that live here. protoc-gen-go is built at the google.golang.org/protobuf
# version of clients/go/go.mod, and protoc and protoc-gen-grpc-java are fetched at the
# protobuf.version and grpc.version of clients/java/pom.xml, so that generated code and
# runtime libraries never drift apart.
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
GRPCURL_VERSION=v1.9.4
MAVEN_DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

pom_property() {
  sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" "$ROOT/clients/java/pom.xml"
}

# ensure NAME VERSION COMMAND...: runs COMMAND unless .tools/bin/NAME is there at VERSION.
ensure() {
  local name=$1 version=$2
  shift 2
  local stamp="$TOOLS_BIN/.$name.version"
  if [[ -x "$TOOLS_BIN/$name" && -f "$stamp" && "$(<"$stamp")" == "$version" ]]; then
    return 0
  fi
  echo "installing $name $version into .tools/bin"
  mkdir -p "$TOOLS_BIN"
  "$@"
  echo "$version" >"$stamp"
}

# maven_exe GROUP:ARTIFACT VERSION NAME: a native executable published on Maven Central.
maven_exe() {
  local tmp
  tmp=$(mktemp -d)
  "${MVN[@]}" "$MAVEN_DEPENDENCY_PLUGIN:copy" \
    "-Dartifact=$1:$2:exe:$(maven_exe_classifier)" "-DoutputDirectory=$tmp"
  cp "$tmp"/*.exe "$TOOLS_BIN/$3"
  chmod 0755 "$TOOLS_BIN/$3"
  rm -rf "$tmp"
}

codegen() {
  local protobuf_go protobuf_java grpc_java
  protobuf_go=$(cd "$ROOT/clients/go" && go list -m -f '{{.Version}}' google.golang.org/protobuf)
  protobuf_java=$(pom_property protobuf.version)
  grpc_java=$(pom_property grpc.version)
  ensure protoc-gen-go "$protobuf_go" \
    bash -c 'cd "$1" && go install google.golang.org/protobuf/cmd/protoc-gen-go' _ "$ROOT/clients/go"
  ensure protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" \
    go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
  ensure protoc "$protobuf_java" maven_exe com.google.protobuf:protoc "$protobuf_java" protoc
  ensure protoc-gen-grpc-java "$grpc_java" \
    maven_exe io.grpc:protoc-gen-grpc-java "$grpc_java" protoc-gen-grpc-java
}

case "${1:-}" in
  codegen) codegen ;;
  grpcurl)
    ensure grpcurl "$GRPCURL_VERSION" \
      go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
    ;;
  *)
    echo "usage: $0 codegen|grpcurl" >&2
    exit 2
    ;;
esac
