#!/usr/bin/env bash
# `make run`: the demo on http://127.0.0.1:5000, with the bundled identity providers when
# they can run: an OpenID Provider (Node >= 20, npm oidc-provider) on 127.0.0.1:9010 and a
# SAML IdP (pysaml2 + xmlsec1) on 127.0.0.2:9020. They stop when FMS stops.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
state=instance/test-idps
mkdir -p "$state"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# the demo's connections point at these loopback IdPs: allow them (never in production)
export FMS_SSO_ALLOWED_HOSTS="${FMS_SSO_ALLOWED_HOSTS:-127.0.0.1 127.0.0.2}"
# trying FMS out on a laptop: claimed domains are confirmed by hand, not looked up in DNS
export FMS_DOMAIN_VERIFICATION="${FMS_DOMAIN_VERIFICATION:-manual}"

wait_for() { for _ in $(seq 1 50); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }

if command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] \
   && [ -d tests/idp/node_modules/oidc-provider ]; then
  PORT=9010 CLIENT_SECRET=fms-demo-idp-client-secret ACCOUNTS="$(cat tests/idp/demo-accounts.json)" \
    node tests/idp/oidc-idp.mjs >"$state/oidc.log" 2>&1 &
  pids+=($!)
  if wait_for http://127.0.0.1:9010/.well-known/openid-configuration; then
    echo "OpenID Provider (bundled, for the demo) on http://127.0.0.1:9010"
  else
    echo "The bundled OpenID Provider did not start; see $state/oidc.log" >&2
  fi
else
  echo "No OpenID Provider for the demo: it needs Node.js >= 20 and 'make idp-deps'." >&2
fi

if command -v xmlsec1 >/dev/null; then
  "$bin/python" tests/idp/saml_idp.py --host 127.0.0.2 --port 9020 --state-dir "$state/saml" \
    --accounts tests/idp/demo-accounts.json >"$state/saml.log" 2>&1 &
  pids+=($!)
  if wait_for http://127.0.0.2:9020/metadata; then
    echo "SAML IdP (bundled, for the demo) on http://127.0.0.2:9020"
  else
    echo "The bundled SAML IdP did not start; see $state/saml.log" >&2
  fi
else
  echo "No SAML IdP for the demo: it needs xmlsec1 (sudo apt-get install xmlsec1)." >&2
fi

"$bin/flask" db upgrade
"$bin/flask" fms demo
if [ -z "${FMS_SMTP_HOST:-}" ]; then
  echo "No mail server (FMS_SMTP_HOST): mail waits unsent under Administration → Outbox."
else
  echo "Mail goes through ${FMS_SMTP_HOST}; send what is due with: $bin/flask fms outbox send"
fi
echo "FMS is starting on http://127.0.0.1:5000 (Ctrl+C stops it and the bundled IdPs)."
"$bin/flask" run --host 127.0.0.1 --port 5000
