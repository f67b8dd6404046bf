#!/usr/bin/env bash
# Install headless Chromium and its driver (Debian packages) for the viewer's browser test
# (tests/viewer/).  Run by scripts/test.sh; needs root or sudo and a reachable apt mirror.
# When that is impossible it says so and returns 0: the browser test then skips with the reason.
set -uo pipefail
# where the reason is left when the install is impossible (the browser test reads it and skips)
MARK="${TMPDIR:-/tmp}/phasetrace-browser-unavailable"
rm -f "$MARK"
unavailable() { echo "setup-browser: $1" >&2; echo "$1" > "$MARK"; exit 0; }
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    unavailable "no apt-get on this machine; install chromium and chromedriver by hand"
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        unavailable "not root and no password-less sudo: cannot apt-get install chromium"
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -q >/dev/null && \
       $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null; }; then
    unavailable "apt-get could not install chromium chromium-driver (no mirror reachable?)"
fi
exit 0
