#!/usr/bin/env bash
# Copies the console screenshots the docs show from the browser test's output
# (target/console/screenshots/, written by `cargo test --test console`) into docs/screenshots/,
# under stable names: every screen at desktop width (1280×800) and on a phone (390×844).
set -euo pipefail
cd "$(dirname "$0")/../.."
from="${CARGO_TARGET_DIR:-target}/console/screenshots"
to=docs/screenshots
[ -d "$from" ] || { echo "no $from: run cargo test --test console first" >&2; exit 1; }
rm -f "$to"/*.png
while read -r source name; do
  cp "$from/$source.png" "$to/$name.png"
done <<'LIST'
03-keys desktop-keys
03b-keys-long-name desktop-keys-long-name
05b-key-page-sessions desktop-key-page
11e-key-view-credits desktop-key-page-credits
04a-expiry-presets desktop-create
06b-use-this-key desktop-use-this-key
11-usage-updated desktop-usage
15-audit desktop-audit
16c-webhook-deliveries desktop-webhooks
16-signing-keys desktop-signing-keys
18-settings desktop-settings
12e-federation-details desktop-federation
dark-keys desktop-keys-dark
phone-03-keys phone-keys
phone-05-key-page phone-key-page
phone-04-create phone-create
phone-06-secret phone-secret
phone-usage phone-usage
phone-audit phone-audit
phone-webhooks phone-webhooks
phone-signing phone-signing-keys
phone-settings phone-settings
LIST
ls "$to"
