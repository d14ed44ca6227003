#!/bin/bash
# The systemd unit as the package installs it: the build installed into a
# scratch root (cmake --install with DESTDIR, as CPack does) beside this
# machine's own units, then
#   - systemd-analyze verify --root: no error and no warning (it checks the
#     ExecStart binary and the man page of Documentation= are there too);
#   - its CapabilityBoundingSet= and AmbientCapabilities= are exactly
#     packaging/capabilities.txt, as is the README's "So the set is" line;
#   - ExecStart runs the installed config, and the config is installed;
#   - systemd-analyze security --offline: the exposure score, printed, at
#     most MAX_EXPOSURE (a hardening option dropped shows here).
# systemd need not be running (it is not PID 1 in containers): all offline.
#   service.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1
build=$2
max_exposure=3.0
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
command -v systemd-analyze >/dev/null || { echo "FAIL: no systemd-analyze (run tools/setup)" >&2; exit 1; }
root=$(mktemp -d /tmp/leakscope-unit-XXXXXX)
trap 'rm -rf "$root"' EXIT
DESTDIR=$root cmake --install "$build" --prefix /usr >"$root.install.log" 2>&1 || {
  cat "$root.install.log" >&2
  rm -f "$root.install.log"
  echo "FAIL: cmake --install" >&2
  exit 1
}
rm -f "$root.install.log"
unit=$root/lib/systemd/system/leakscope.service
[ -f "$unit" ] || { echo "FAIL: the install puts no leakscope.service in /lib/systemd/system" >&2; exit 1; }
# The targets and units the unit refers to (multi-user.target, ...).
cp -an /lib/systemd/system/. "$root/lib/systemd/system/" 2>/dev/null
# ExecReload= runs the system's kill (procps), there on the host, not in the
# package.
install -D -m 0755 /bin/kill "$root/bin/kill"

out=$(MANPATH=$root/usr/share/man systemd-analyze verify --root="$root" leakscope.service 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
  fail "systemd-analyze verify (exit $rc): $out"
else
  echo "ok: systemd-analyze verify: no error, no warning"
fi

want=$(grep '^CAP_' "$src/packaging/capabilities.txt" | sort | tr '\n' ' ')
[ -n "$want" ] || fail "no CAP_ line in packaging/capabilities.txt"
for key in CapabilityBoundingSet AmbientCapabilities; do
  got=$(sed -n "s/^$key=//p" "$unit" | tr ' ' '\n' | grep . | sort | tr '\n' ' ')
  [ "$got" = "$want" ] && echo "ok: $key= $got" || fail "$key= is '$got', packaging/capabilities.txt says '$want'"
done
readme=$(grep -o '^So the set is \*\*[^*]*\*\*' "$src/README.md" | sed 's/.*\*\*\(.*\)\*\*/\1/' | tr -d ' ' | tr ',' '\n' | sort | tr '\n' ' ')
[ "$readme" = "$want" ] && echo "ok: README's set is the list" || fail "README says the set is '$readme', packaging/capabilities.txt '$want'"

exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "$exec_start" = "/usr/bin/leakscope trace --config /etc/leakscope/leakscope.toml" ] ||
  fail "ExecStart= is '$exec_start'"
[ -f "$root/etc/leakscope/leakscope.toml" ] || fail "the config ExecStart reads is not installed"
grep -q '^Type=notify$' "$unit" || fail "the unit is not Type=notify"
grep -q '^WatchdogSec=' "$unit" || fail "the unit has no WatchdogSec="
grep -q '^User=leakscope$' "$unit" || fail "the unit does not run as the user leakscope"
grep -q '^u leakscope ' "$root/usr/lib/sysusers.d/leakscope.conf" 2>/dev/null || fail "no sysusers.d entry for the user leakscope"

security=$(systemd-analyze security --offline=yes --root="$root" leakscope.service 2>&1)
score=$(sed -n 's/.*Overall exposure level for leakscope.service: \([0-9.]*\).*/\1/p' <<<"$security")
if [ -z "$score" ]; then
  fail "systemd-analyze security printed no exposure level: $security"
else
  echo "exposure level (systemd-analyze security --offline=yes): $score"
  grep '✗' <<<"$security" | sed 's/  */ /g'
  awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }' || fail "exposure $score above $max_exposure"
fi

((failures == 0)) || exit 1
echo "ok: the unit"
