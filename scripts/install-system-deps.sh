#!/usr/bin/env bash
# Installs the Debian packages the project runs against: Chromium (PDF rendering), Pandoc
# (DOCX), poppler-utils (pdftotext in tests), and the PostgreSQL client and server
# binaries plus openssl the data-move tests use (pg_dump, pgbench, a throwaway initdb
# cluster with TLS). Idempotent: does nothing when everything is present.
# A browser already on the machine can stand in for Debian's Chromium through
# CHROMIUM_PATH (GitHub's Ubuntu runners ship Google Chrome; their `chromium` is a snap).
set -euo pipefail
need=()
if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "${CHROMIUM_PATH}" ]; then :; else
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
command -v pandoc >/dev/null 2>&1 || need+=(pandoc)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
