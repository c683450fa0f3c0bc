#!/usr/bin/env bash
# Check the Prometheus alert rules (ops/alerts/*.yml) with promtool and run their tests
# (ops/alerts/tests), installing Debian's prometheus package (which ships promtool) when
# it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
  echo "installing promtool (Debian's prometheus package)"
  # No service is started: only its promtool is used.
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null; }
fi
promtool check rules ops/alerts/*.yml
# Each alert fed synthetic series: it fires when it should, and only then.
promtool test rules ops/alerts/tests/*.yml
promtool check config --syntax-only deploy/prometheus/prometheus.yml
