#!/bin/sh
# The site test drives Debian's Chromium through ChromeDriver. Install both when missing and we
# can (root with apt-get, as in CI); otherwise stop and say how. The browser test never skips.
set -e
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium and chromium-driver for the site test ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    exit 0
fi
echo "The site test needs Chromium and ChromeDriver. Install them, e.g. on Debian/Ubuntu:" >&2
echo "    sudo apt-get install chromium chromium-driver" >&2
exit 1
