#!/usr/bin/env bash
# The system packages the project runs against: Chromium (PDF rendering), Pandoc (DOCX),
# poppler-utils (pdftotext: the tests read PDFs back), the PostgreSQL client tools (the data
# move: pg_dump, psql) and openssl; for the tests also the PostgreSQL server binaries (the
# data-move tests' throwaway initdb clusters with TLS) and a Redis server binary (the Redis
# outage test starts its own; Debian's redis-tools has it as redis-check-rdb, with no service to
# start). Idempotent: does nothing when everything is present.
#
#   bash scripts/install-system-deps.sh              npm run dev (predev)
#   bash scripts/install-system-deps.sh --for-tests  npm test (pretest)
#   bash scripts/install-system-deps.sh --for-bench  the test set plus the tools the benchmarks
#                                                    compare against (pgcopydb: npm run bench:migration,
#                                                    rclone: npm run bench:storage)
#
# On Debian/Ubuntu it installs what is missing with apt-get (as root, or through sudo). Anywhere
# else (macOS, Fedora, Arch…, or Debian without root or sudo) it prints what to install and how
# to point the workers at it (CHROMIUM_PATH, PANDOC_PATH); then `npm run dev` goes on without it
# (the API serves, and its banner says which documents cannot be rendered) while `npm test`
# stops here, since its worker tests render real PDFs and DOCX.
# A browser already on the machine can stand in for Debian's Chromium through CHROMIUM_PATH
# (GitHub's Ubuntu runners ship Google Chrome; their `chromium` is a snap).
# The dev set leaves out Debian's `postgresql` server package: `npm run dev` starts an embedded
# PostgreSQL when none answers, and that package would start a cluster on 5432 it cannot log in to.
set -euo pipefail
mode=dev
case "${1:-}" in
  '') ;;
  --for-tests) mode=test ;;
  --for-bench) mode=bench ;;
  *) echo "usage: $0 [--for-tests|--for-bench]" >&2; exit 2 ;;
esac

# Missing items: a key (chromium, pandoc, poppler, pgclient, openssl, pgserver, redis, pgcopydb, rclone) and what needs it.
keys=()
whys=()
need() { keys+=("$1"); whys+=("$2"); }

chromium_found=''
if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "${CHROMIUM_PATH}" ]; then :; elif command -v chromium >/dev/null 2>&1; then :; else
  for candidate in chromium-browser google-chrome google-chrome-stable \
    "/Applications/Chromium.app/Contents/MacOS/Chromium" "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"; do
    if command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ]; then chromium_found=$(command -v "$candidate" 2>/dev/null || echo "$candidate"); break; fi
  done
  need chromium "Chromium: renders the PDF documents (doc-generation worker)"
fi
command -v "${PANDOC_PATH:-pandoc}" >/dev/null 2>&1 || need pandoc "Pandoc: renders the DOCX documents (doc-generation worker)"
command -v pdftotext >/dev/null 2>&1 || need poppler "poppler-utils (pdftotext): the tests read the rendered PDFs back"
command -v pg_dump >/dev/null 2>&1 || need pgclient "PostgreSQL client tools (pg_dump, psql): the data move (npm run db:move) and its tests"
command -v openssl >/dev/null 2>&1 || need openssl "openssl: the data-move tests' TLS certificates"
if [ "$mode" != dev ]; then
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 ||
    need pgserver "PostgreSQL server binaries (initdb): the data-move tests' throwaway clusters"
  command -v redis-server >/dev/null 2>&1 || command -v redis-check-rdb >/dev/null 2>&1 ||
    need redis "a Redis server binary (redis-server, or redis-tools' redis-check-rdb): the Redis outage test starts its own"
fi
if [ "$mode" = bench ]; then
  command -v pgcopydb >/dev/null 2>&1 || need pgcopydb "pgcopydb: npm run bench:migration times db:move against it"
  command -v rclone >/dev/null 2>&1 || need rclone "rclone: npm run bench:storage times storage:move against it"
fi
# The data-move tests give a database lc_monetary = de_DE.utf8 (money's text follows it), on the
# machine's PostgreSQL: a directory locale (--no-archive), which a running server finds at once.
test_locale=''
if [ "$mode" = test ] && ! locale -a 2>/dev/null | grep -qix 'de_DE\.utf-\?8'; then
  test_locale=1
  need locale "the de_DE.UTF-8 locale (localedef -i de_DE -f UTF-8 de_DE.UTF-8; Debian's locales holds its definition): the data-move tests set lc_monetary to it"
fi
# The data-move tests' extension with configuration tables (test/fixtures/postgres-extension/),
# for each PostgreSQL installed on this machine (a server elsewhere, as ci.yml's container, gets
# it from its own step).
# How this script acts as root: itself, through sudo, or not at all (no_root).
sudo_cmd=()
no_root=''
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else no_root=1; fi
fi
if [ "$mode" = test ]; then
  fixtures="${BASH_SOURCE[0]%/*}/../test/fixtures/postgres-extension"
  for dir in /usr/share/postgresql/*/extension; do
    [ -d "$dir" ] || continue
    for f in "$fixtures"/*; do
      # Compared with bash alone: the script also runs on a PATH that holds almost nothing.
      [ -f "$dir/${f##*/}" ] && [ "$(<"$f")" = "$(<"$dir/${f##*/}")" ] && continue
      "${sudo_cmd[@]}" cp "$f" "$dir/" ||
        { echo "docplatform: could not copy $f into $dir (the data-move tests need it there)" >&2; exit 1; }
    done
  done
fi
[ ${#keys[@]} -eq 0 ] && exit 0

debian_name() {
  case "$1" in
    chromium) echo chromium ;; pandoc) echo pandoc ;; poppler) echo poppler-utils ;;
    pgclient) echo postgresql-client ;; openssl) echo openssl ;; pgserver) echo postgresql ;; redis) echo redis-tools ;; pgcopydb) echo pgcopydb ;; rclone) echo rclone ;;
    locale) echo locales ;;
  esac
}

# Debian/Ubuntu: install them.
why_not=''
if ! command -v apt-get >/dev/null 2>&1; then
  why_not='this system has no apt-get'
else
  [ -n "$no_root" ] && why_not='apt-get needs root, and there is no sudo'
  if [ -z "$why_not" ]; then
    packages=()
    for k in "${keys[@]}"; do packages+=("$(debian_name "$k")"); done
    echo "installing Debian packages: ${packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; then
      [ -z "$test_locale" ] && exit 0
      "${sudo_cmd[@]}" localedef --no-archive -i de_DE -f UTF-8 de_DE.UTF-8 && exit 0
      why_not='localedef failed (above)'
    else
      why_not='apt-get install failed (above)'
    fi
  fi
fi

# Anywhere else: say what to install, with this system's package manager when there is a known one.
pm_command() {
  local names=() k
  case "$1" in
    brew)
      for k in "${keys[@]}"; do case "$k" in
        pandoc) names+=(pandoc) ;; poppler) names+=(poppler) ;; pgclient | pgserver) names+=(postgresql@16) ;; openssl) names+=(openssl) ;; redis) names+=(redis) ;; pgcopydb) names+=(pgcopydb) ;; rclone) names+=(rclone) ;;
      esac; done
      local line=''
      [ ${#names[@]} -gt 0 ] && line="brew install $(printf '%s\n' "${names[@]}" | sort -u | tr '\n' ' ')"
      if printf '%s\n' "${keys[@]}" | grep -qx chromium; then line="${line:+$line&& }brew install --cask chromium"; fi
      echo "$line" ;;
    dnf | yum | zypper | pacman | apk)
      for k in "${keys[@]}"; do case "$1:$k" in
        *:chromium) names+=(chromium) ;;
        pacman:pandoc) names+=(pandoc-cli) ;; *:pandoc) names+=(pandoc) ;;
        pacman:poppler) names+=(poppler) ;; zypper:poppler) names+=(poppler-tools) ;; *:poppler) names+=(poppler-utils) ;;
        apk:pgclient) names+=(postgresql16-client) ;; *:pgclient) names+=(postgresql) ;;
        apk:pgserver) names+=(postgresql16) ;; pacman:pgserver) names+=(postgresql) ;; *:pgserver) names+=(postgresql-server) ;;
        *:openssl) names+=(openssl) ;;
        *:redis) names+=(redis) ;;
        *:pgcopydb) names+=(pgcopydb) ;;
        *:rclone) names+=(rclone) ;;
      esac; done
      case "$1" in
        dnf | yum) echo "sudo $1 install ${names[*]}" ;; zypper) echo "sudo zypper install ${names[*]}" ;;
        pacman) echo "sudo pacman -S --needed $(printf '%s\n' "${names[@]}" | sort -u | tr '\n' ' ')" ;; apk) echo "apk add ${names[*]}" ;;
      esac ;;
  esac
}
{
  echo "docplatform: system packages missing, not installed: ${why_not}."
  for w in "${whys[@]}"; do echo "  - $w"; done
  pm=''
  for candidate in brew dnf yum zypper pacman apk; do command -v "$candidate" >/dev/null 2>&1 && { pm=$candidate; break; }; done
  if [ -n "$pm" ]; then
    echo "Install them, for example: $(pm_command "$pm")"
  else
    echo "Install them with this system's package manager (usually named chromium, pandoc, poppler-utils or poppler, postgresql-client or postgresql)."
  fi
  echo "Then point the workers at them when they are not where the workers look by default:"
  if [ -n "$chromium_found" ]; then
    echo "  export CHROMIUM_PATH='$chromium_found'   # found on this machine (default /usr/bin/chromium; Chrome works too)"
  else
    echo "  export CHROMIUM_PATH=/path/to/chromium   # default /usr/bin/chromium; Google Chrome works too"
  fi
  echo "  export PANDOC_PATH=/path/to/pandoc       # default: pandoc on the PATH"
  if [ "$mode" = bench ]; then
    echo "the benchmarks need them to compare against: install them, then run it again."
  elif [ "$mode" = test ]; then
    echo "npm test needs them (the worker tests render real PDFs and DOCX, the data-move tests run pg_dump): install them, then run it again."
  else
    echo "npm run dev goes on without them: the API serves, and its banner says which documents cannot be rendered."
  fi
} >&2
[ "$mode" != dev ] && exit 1
exit 0
