#!/bin/bash
# lintian on the .deb tools/package made: no error passes. Its warnings and
# notes are printed (the test log keeps them) but do not fail the test.
#   lintian.sh DEB_DIR
set -uo pipefail
deb=$(ls "$1"/leakscope_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "FAIL: no leakscope_*.deb in $1 (did packaging.deb run?)" >&2; exit 1; }
command -v lintian >/dev/null || { echo "FAIL: lintian is not installed (run tools/setup)" >&2; exit 1; }
tags=$(lintian --display-info --pedantic --show-overrides "$deb" 2>&1 | grep -v '^running with root privileges')
echo "lintian $(basename "$deb"):"
echo "${tags:-  (no tags)}"
if grep -q '^E: ' <<<"$tags"; then
  echo "FAIL: lintian reports errors" >&2
  exit 1
fi
echo "ok: no lintian errors ($(grep -c '^W: ' <<<"$tags") warnings)"
