#!/usr/bin/env bash
# Install headless Chromium and its driver (Debian packages) for the viewer's browser test
# (tests/viewer/).  Run by scripts/test.sh; needs root or sudo and a reachable apt mirror.
# When that is impossible it says so and returns 0: the browser test then skips with the reason.
set -uo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-browser: no apt-get on this machine; install chromium and chromedriver by hand" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "setup-browser: not root and no password-less sudo; chromium not installed" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -q >/dev/null && \
       $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null; }; then
    echo "setup-browser: apt-get could not install chromium chromium-driver" >&2
fi
exit 0
