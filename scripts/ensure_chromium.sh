#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests, when this machine allows it.
# Exit status 0 whether or not it could: tests/browser skip (or, in CI, fail) with a message naming
# what to install. Pass --require to fail here when Chromium cannot be installed.
set -u
chromium=/usr/bin/chromium
if [ -x "$chromium" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "apt-get could not install chromium"
fi
if [ ! -x "$chromium" ]; then
  echo "Chromium is not installed: the browser tests will be skipped. Install it with: sudo apt-get install chromium"
  [ "${1:-}" = "--require" ] && exit 1
fi
exit 0
