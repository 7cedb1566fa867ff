#!/usr/bin/env bash
# Creates the virtualenv and installs FMS (editable) with its dev extra, after making sure
# the system libraries WeasyPrint needs (Pango, HarfBuzz, fonts), xmlsec1 (SAML) and
# chromium (the browser test) are present.
set -euo pipefail
python_bin=${1:-python3}
venv=${2:-.venv}

if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "FMS needs Python 3.11 or newer; found: $("$python_bin" --version 2>&1). Install python3.11 and run again." >&2
  exit 1
fi

weasyprint_packages="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-dejavu-core"
missing_libs() {
  for lib in libpango-1.0.so.0 libpangoft2-1.0.so.0 libharfbuzz.so.0 libharfbuzz-subset.so.0; do
    ldconfig -p 2>/dev/null | grep -q "$lib" || return 0
  done
  [ -n "$(ls /usr/share/fonts 2>/dev/null)" ] || return 0
  return 1
}
if missing_libs; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing the system libraries WeasyPrint needs: $weasyprint_packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $weasyprint_packages >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null && command -v apt-get >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $weasyprint_packages >/dev/null
  else
    echo "WeasyPrint needs system libraries: install them with 'sudo apt-get install $weasyprint_packages' and run again." >&2
    exit 1
  fi
fi

# SAML (pysaml2) verifies signatures with the xmlsec1 program; the browser test drives
# Debian's chromium (Playwright never downloads a browser here).
sso_packages=""
command -v xmlsec1 >/dev/null || sso_packages="$sso_packages xmlsec1"
command -v chromium >/dev/null || sso_packages="$sso_packages chromium"
if [ -n "$sso_packages" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing:$sso_packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $sso_packages >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null && command -v apt-get >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $sso_packages >/dev/null
  else
    echo "SAML sign-in needs xmlsec1 and the browser test needs chromium: 'sudo apt-get install$sso_packages'." >&2
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python_bin" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e ".[dev]"
