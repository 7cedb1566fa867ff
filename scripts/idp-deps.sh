#!/usr/bin/env bash
# Installs the bundled test identity providers' npm packages into tests/idp/node_modules
# (ignored by git) when they are missing or package.json changed. oidc-provider 9 needs
# Node.js >= 20; without it the `idp` tests are skipped (and fail under FMS_REQUIRE_SERVICES=1).
set -euo pipefail
cd "$(dirname "$0")/../tests/idp"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "Node.js >= 20 and npm are not installed: the identity-provider tests will be skipped." >&2
  echo "Install Node.js 20 or newer (Debian 12's own nodejs is 18: use NodeSource or nvm)." >&2
  exit 0
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "Node.js $(node --version) is too old for oidc-provider 9: install Node.js 20 or newer." >&2
  echo "The identity-provider tests will be skipped." >&2
  exit 0
fi
if [ ! -d node_modules/oidc-provider ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "Installing the test identity providers (npm, into tests/idp/node_modules)"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
fi
