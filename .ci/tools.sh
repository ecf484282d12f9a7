#!/usr/bin/env bash
# Installs the system tools the test suite drives: Debian's chromium (browser tests).
# ffmpeg comes from the imageio-ffmpeg wheel; nothing here downloads a browser build.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "chromium is missing: run 'sudo apt-get install chromium' (browser tests need it)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
