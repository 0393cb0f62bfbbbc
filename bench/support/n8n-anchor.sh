#!/usr/bin/env bash
# Sets up n8n's anchor for `npm run bench -- workflow` outside this repository and starts it:
#   bash bench/support/n8n-anchor.sh /some/dir   →   N8N_BENCH_URL=http://127.0.0.1:5678/webhook/bench
# Installs n8n 2.8.4 from the npm registry into DIR (its xlsx dependency points at cdn.sheetjs.com, which
# this machine cannot reach, so it is overridden with the registry's xlsx 0.18.5; n8n's anchor does not
# use it), imports bench/support/n8n-anchor.json (webhook → set flag → if flag = "yes" → set result,
# answering when the last node finishes, so an answered request is a completed run), publishes it and
# runs `n8n start` in the foreground: SQLite, regular mode, production webhooks.
set -euo pipefail
dir=${1:?usage: n8n-anchor.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir/home"
cd "$dir"
if [ ! -x node_modules/.bin/n8n ]; then
  [ -f package.json ] || echo '{"private":true,"overrides":{"xlsx":"0.18.5"}}' > package.json
  npm install n8n@2.8.4 --no-audit --no-fund
fi
export N8N_USER_FOLDER="$dir/home" N8N_DIAGNOSTICS_ENABLED=false N8N_LOG_LEVEL=warn N8N_PORT=${N8N_PORT:-5678}
npx n8n import:workflow --input="$here/n8n-anchor.json"
npx n8n publish:workflow --id=benchAnchor01
exec npx n8n start
