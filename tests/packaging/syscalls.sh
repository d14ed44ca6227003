#!/bin/bash
# The unit's SystemCallFilter= against what leakscope really calls: the
# unit's ExecStart (the packaged config: --all, metrics, reports) run as the
# unit runs it (a non-root user, only the unit's AmbientCapabilities=) under
# strace -f for a few seconds, drilling into a growing fixture of another
# user, with a report written, the metrics scraped and a control request
# served on the way; every system call it made must
# be in the filter as systemd expands it (systemd-analyze syscall-filter),
# or it would get EPERM under systemd. systemd need not run here. Root only.
#   syscalls.sh SOURCE_DIR LEAKSCOPE_BINARY
set -uo pipefail
src=$1
bin=$2
unit=$src/packaging/leakscope.service
for tool in strace setpriv systemd-analyze; do
  command -v $tool >/dev/null || { echo "FAIL: no $tool (run tools/setup)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "FAIL: runs leakscope with capabilities: run as root" >&2; exit 1; }

# The filter, expanded: its groups' calls and the named ones.
allowed=$(mktemp)
dir=$(mktemp -d /tmp/leakscope-syscalls-XXXXXX)
trap 'rm -rf "$allowed" "$dir"' EXIT
chmod 0777 "$dir"
for item in $(sed -n 's/^SystemCallFilter=//p' "$unit"); do
  if [[ $item == @* ]]; then
    systemd-analyze syscall-filter "$item" | awk '$1 !~ /^[@#]/ && NF { print $1 }'
    # Groups within the group.
    for sub in $(systemd-analyze syscall-filter "$item" | awk 'NR > 1 && $1 ~ /^@/ { print $1 }'); do
      systemd-analyze syscall-filter "$sub" | awk '$1 !~ /^[@#]/ && NF { print $1 }'
    done
  else
    echo "$item"
  fi
done | sort -u >"$allowed"
[ -s "$allowed" ] || { echo "FAIL: the unit has no SystemCallFilter=" >&2; exit 1; }

caps=$(sed -n 's/^AmbientCapabilities=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
read -ra exec_start <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
exec_start[0]=$bin  # the build's binary, not /usr/bin's
config=$src/packaging/leakscope.toml
for ((i = 0; i < ${#exec_start[@]}; i++)); do
  [ "${exec_start[$i]}" = --config ] && exec_start[$((i + 1))]=$config
done
port=$((20000 + $$ % 20000))
# A process of another user that grows: drilled into (allocator uprobes).
# Only it is watched (--comm), so that no other process takes the drill-downs.
fixture=$(dirname "$bin")/../tests/fixtures/fixture_demo_service
setpriv --reuid=61234 --regid=61234 --clear-groups "$fixture" >/dev/null 2>&1 &
fixture_pid=$!
trap 'kill $fixture_pid 2>/dev/null; rm -rf "$allowed" "$dir"' EXIT
setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps="-all,$caps" --ambient-caps="-all,$caps" \
  --bounding-set="-all,$caps" strace -f -qq -o "$dir/strace" \
  "${exec_start[@]}" --duration 8s --metrics "127.0.0.1:$port" --alert stdout \
  --report-dir "$dir/reports" --report-every 2s --control "$dir/control.sock" \
  --comm fixture_demo_se --drill-rate 16KiB >"$dir/out" 2>"$dir/err" &
tracer=$!
for _ in $(seq 100); do
  grep -q 'leakscope: tracing' "$dir/err" 2>/dev/null && break
  sleep 0.1
done
scrape() {
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  head -1 <&3 | grep -q ' 200 '
  local ok=$?
  exec 3<&-
  return $ok
}
scrape || echo "note: the metrics scrape failed"
"$bin" status --control "$dir/control.sock" >/dev/null 2>&1 || echo "note: the control request failed"
wait "$tracer"
code=$?
failures=0
if [ "$code" -ne 0 ]; then
  echo "FAIL: leakscope under strace exited $code: $(tail -3 "$dir/err")" >&2
  failures=1
fi
ls "$dir/reports"/* >/dev/null 2>&1 || { echo "FAIL: no report was written" >&2; failures=1; }
grep -q "PID $fixture_pid (fixture_demo_se) grows" "$dir/err" ||
  { echo "FAIL: no drill-down into the fixture (no uprobes were attached): $(grep -m3 leakscope: "$dir/err")" >&2; failures=1; }

used=$(awk '{ l = $0; sub(/^[0-9]+ +/, "", l); if (match(l, /^[a-z_0-9]+\(/)) print substr(l, 1, RLENGTH - 1) }' \
  "$dir/strace" | sort -u)
# execve is the exec of leakscope itself (systemd's, not the service's).
outside=$(comm -23 <(grep -vx execve <<<"$used") "$allowed")
echo "system calls made: $(wc -l <<<"$used")"
if [ -n "$outside" ]; then
  echo "FAIL: calls outside the unit's SystemCallFilter=: $(tr '\n' ' ' <<<"$outside")" >&2
  failures=1
fi
((failures == 0)) || exit 1
echo "ok: every call is in SystemCallFilter= ($(sed -n 's/^SystemCallFilter=//p' "$unit"))"
