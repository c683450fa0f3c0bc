#!/usr/bin/env bash
# Make sure Debian's chromium is installed: the dashboard's browser test drives it with
# Playwright (executable_path; Playwright never downloads a browser here). Without it that
# test skips, so CI installs it rather than let the browser test go unrun.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (Debian's package) for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium >/dev/null \
    || { apt-get update -qq && apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
[ -x /usr/bin/chromium ] || { echo "error: chromium is not installed (apt-get install -y chromium)"; exit 1; }
