#!/usr/bin/env bash
# The two commands of the README, on a fresh Debian 12 (or newer) machine, as root:
#   ./ccari.sh run    PBX provisioned + started, database migrated, demo tenants, ccari serving
#   ./ccari.sh test   the whole gate: ruff, mypy, and pytest against a real Asterisk 22
# Both install what they need first (apt + a virtualenv at .venv), idempotently.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${CCARI_VENV:-.venv}   # the virtualenv (the Vagrant box keeps its own outside /vagrant)

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc ca-certificates
  debootstrap        # builds the cached Debian sid root that carries Asterisk 22
  sip-tester         # SIPp: callers, carriers and agent phones in the tests
  postgresql         # the storage tests run on SQLite and on PostgreSQL
  chromium           # Playwright drives Debian's Chromium in the browser tests
  espeak-ng sox      # sounds/make.sh regenerates the prompts; tenants' text prompts
  libsox-fmt-mp3     # tenants' prompts uploaded as MP3
  nftables           # the SIP guard may enforce its blocks in the kernel (tested in a netns)
  tesseract-ocr      # the tests read the wallboard's and reports' figures off screenshots
  systemd            # systemd-analyze checks the unit examples (asterisk/systemd/)
  systemd-container  # systemd-nspawn boots a container to run ccari's unit under systemd
  kamailio kamailio-postgres-modules  # the SIP edge spreading carrier calls over media nodes
)

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

install_system() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] || { echo "run as root (apt-get install ${missing[*]})" >&2; exit 1; }
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

install_python() {
  local stamp=$VENV/.ccari-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing ccari and its test tools into $VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e '.[test]'
    echo "$want" > "$stamp"
  fi
}

cmd=${1:-}
case "$cmd" in
  run)
    install_system
    install_python
    shift
    exec "$VENV/bin/ccari" run "$@"
    ;;
  test)
    install_system
    install_python
    shift
    log "ruff"
    "$VENV/bin/ruff" check ccari tests bench
    log "mypy"
    "$VENV/bin/mypy" ccari
    # Build (or find cached) the Asterisk root before pytest: a first build takes ~80 s,
    # which must not count against a test's timeout.
    log "PBX provisioning"
    "$VENV/bin/ccari" pbx provision
    # One pytest worker per core (at most 4): each worker starts its own Asterisk, PostgreSQL
    # and Chromium on its own ports, and takes whole test files (their fixtures stay shared)
    # in the order tests/conftest.py gives them (the files with PBX or browser tests first).
    # CCARI_TEST_WORKERS=0 runs everything in one process.
    log "pytest"
    workers=${CCARI_TEST_WORKERS:-$(( $(nproc) < 4 ? $(nproc) : 4 ))}
    if [ "$workers" -gt 0 ]; then
      set -- -n "$workers" --dist loadfile --no-loadscope-reorder "$@"
    fi
    exec "$VENV/bin/pytest" "$@"
    ;;
  *)
    echo "usage: $0 run|test" >&2
    exit 2
    ;;
esac
