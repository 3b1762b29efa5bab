# Sourced by clients/scripts/*.sh: where the client toolchains put what they download.
#
# Everything stays inside the repository, under .tools/ (gitignored): the Go module
# and build caches, the Maven repository, the npm cache and the code generators. A
# fresh clone therefore downloads everything once, from the Go module proxy, Maven
# Central and the npm registry, and `make clean` removes all of it.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$ROOT/.tools"
TOOLS_BIN="$TOOLS/bin"

export GOBIN="$TOOLS_BIN"
export GOMODCACHE="$TOOLS/go/mod"
export GOCACHE="$TOOLS/go/cache"
# -modcacherw: module files stay writable, so `rm -rf .tools` works.
export GOFLAGS="-modcacherw -buildvcs=false"
# Never fetch another Go toolchain: build with the installed one or fail.
export GOTOOLCHAIN=local
export npm_config_cache="$TOOLS/npm"
export npm_config_update_notifier=false

# -Dstyle.color=never: Maven 3.8 prints colour codes even in batch mode.
MVN=(mvn -B -q -Dstyle.color=never "-Dmaven.repo.local=$TOOLS/m2")

# Maven Central's classifier for native executables on this machine (protoc, protoc-gen-grpc-java).
maven_exe_classifier() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=osx ;;
    *) echo "no protoc build on Maven Central for $(uname -s)" >&2; return 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch_64 ;;
    *) echo "no protoc build on Maven Central for $(uname -m)" >&2; return 1 ;;
  esac
  echo "$os-$arch"
}
