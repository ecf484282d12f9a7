#!/usr/bin/env bash
# Installs the system tools the test suite drives: Debian's chromium (browser tests) and
# Debian's ffmpeg. verp never runs the latter: its ffmpeg comes from the imageio-ffmpeg
# wheel, never PATH; CI installs Debian's (5.1, too old for verp) to prove that an
# ffmpeg on PATH changes nothing. Nothing here downloads a browser or ffmpeg build.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
[ -x /usr/bin/ffmpeg ] || missing+=(ffmpeg)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "missing: ${missing[*]}: run 'sudo apt-get install ${missing[*]}' (browser tests need chromium; ffmpeg proves PATH is ignored)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
