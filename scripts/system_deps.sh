#!/usr/bin/env bash
# Makes sure the system packages named as arguments are installed: the servers the tests (or a
# config given to `make run`) start for real. Installs the missing ones with apt-get when run as
# root on a Debian-family machine; otherwise names them and the command, and fails. Never skips.
set -euo pipefail

installed() {
  case "$1" in
    redis-server) command -v redis-server >/dev/null 2>&1 ;;
    # Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<version>/bin.
    postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 ;;
    # Debian installs nginx in /usr/sbin, which a non-root PATH may lack.
    nginx) command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] ;;
    # The web console's browser tests drive Debian's chromium through Playwright.
    chromium) command -v chromium >/dev/null 2>&1 ;;
    *) echo "system_deps.sh: no check for package '$1'" >&2; return 2 ;;
  esac
}

missing=()
for package in "$@"; do
  installed "$package" || missing+=("$package")
done
((${#missing[@]})) || exit 0

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for package in "${missing[@]}"; do
    installed "$package" || { echo "system_deps.sh: $package still missing after apt-get" >&2; exit 1; }
  done
  exit 0
fi

cat >&2 <<MESSAGE
imagegen needs these system packages, which are not installed: ${missing[*]}
(the tests start a real redis-server, PostgreSQL and nginx on loopback ports and drive a real
chromium; nothing is skipped).
Install them, then run the command again:
    sudo apt-get install -y ${missing[*]}
MESSAGE
exit 1
