#!/usr/bin/env bash
# Installs the system programs fleet's demo and tests use (mosquitto, PostgreSQL, age, libcjson),
# with apt-get when we can; otherwise prints the one line the user must run.
set -euo pipefail

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
  || missing+=(postgresql)
command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
command -v age >/dev/null 2>&1 || missing+=(age)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
# the real cJSON the tests check canonical JSON against (the node is the judge of a signature)
ldconfig -p 2>/dev/null | grep -q 'libcjson\.so\.1' || missing+=(libcjson1)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "fleet needs system packages that are missing. Run:" >&2
echo "  sudo apt-get install -y ${missing[*]}" >&2
exit 1
