#!/bin/bash
# The .deb as an operator installs it: `apt-get install ./leakscope_*.deb`
# into this machine, then /usr/bin/leakscope --version, `man -l` on the
# installed page, the completion and the docs where they belong, the unit's
# ExecStart run as the unit runs it (its user, its capabilities only) naming
# a fixture's leak, and `apt-get remove -y leakscope`. The machine is left as it was, on failure
# too: what the test installed (leakscope, any dependency apt planned to
# pull in with it) is purged on exit (its conffile too), and it refuses to start where a
# leakscope is installed already. Other tests use the build's own binary by its path, never
# /usr/bin/leakscope, so they can run meanwhile. Root only.
#   deb_install.sh DEB_DIR BUILD_LEAKSCOPE
set -uo pipefail
deb=$(ls "$1"/leakscope_*.deb 2>/dev/null | head -1)
build_bin=$2
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
[ "$(id -u)" -eq 0 ] || { echo "FAIL: installs a package: run as root" >&2; exit 1; }
[ -n "$deb" ] || { echo "FAIL: no leakscope_*.deb in $1 (did packaging.deb run?)" >&2; exit 1; }
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
if dpkg-query -W -f='${Status}' leakscope 2>/dev/null | grep -qv 'not-installed'; then
  echo "FAIL: a leakscope package is installed already ($(dpkg-query -W -f='${Version} ${Status}' leakscope)); this test does not replace it" >&2
  exit 1
fi
for path in /usr/bin/leakscope /usr/share/man/man8/leakscope.8.gz /usr/share/bash-completion/completions/leakscope \
  /etc/leakscope /var/lib/leakscope /lib/systemd/system/leakscope.service; do
  [ ! -e "$path" ] || { echo "FAIL: $path exists and belongs to no package; this test does not overwrite it" >&2; exit 1; }
done

export DEBIAN_FRONTEND=noninteractive
# Other agents may hold the dpkg lock for a while: wait for it.
apt_get() { apt-get -o DPkg::Lock::Timeout=300 -q "$@"; }
# What the install brings besides leakscope, as apt plans it now: only these
# (and leakscope) are undone, never a package someone else installs meanwhile
# on this shared machine.
installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^.i'; }
ours=$(apt_get install -s --no-install-recommends "$deb" 2>/dev/null | awk '$1 == "Inst" { print $2 }' | sort -u)
[[ $ours == *leakscope* ]] || { echo "FAIL: apt-get install -s $deb plans no leakscope: $ours" >&2; exit 1; }
for p in $ours; do
  [ "$p" = leakscope ] || echo "the install also brings: $p"
done
had_user=$(getent passwd leakscope >/dev/null && echo yes)
cleanup() {
  local p added=()
  for p in $ours; do installed "$p" && added+=("$p"); done
  if ((${#added[@]})); then
    echo "cleanup: purging what the test installed: ${added[*]}"
    apt_get purge -y "${added[@]}" >/dev/null 2>&1 || echo "cleanup: apt-get purge ${added[*]} failed" >&2
  fi
  # Removed but with configuration files left: purge them too.
  if dpkg-query -W -f='${Status}' leakscope 2>/dev/null | grep -q config-files; then
    dpkg --purge leakscope >/dev/null 2>&1
  fi
  # The package keeps its system user, as Debian's do; the test does not.
  if [ -z "$had_user" ] && getent passwd leakscope >/dev/null; then
    userdel leakscope >/dev/null 2>&1 || echo "cleanup: userdel leakscope failed" >&2
  fi
}
trap cleanup EXIT
trap "exit 1" TERM INT HUP

echo "apt-get install $deb"
if ! apt_get install -y --no-install-recommends "$deb" >/tmp/leakscope-deb-install.$$ 2>&1; then
  cat /tmp/leakscope-deb-install.$$ >&2
  rm -f /tmp/leakscope-deb-install.$$
  echo "FAIL: apt-get install $deb" >&2
  exit 1
fi
rm -f /tmp/leakscope-deb-install.$$
dpkg-query -W -f='${Status}' leakscope | grep -q 'install ok installed' || fail "dpkg does not list leakscope as installed"

version=$(/usr/bin/leakscope --version 2>&1)
[ "$version" = "$("$build_bin" --version)" ] || fail "/usr/bin/leakscope --version says '$version', the build's '$("$build_bin" --version)'"
[[ $version == "leakscope "* ]] || fail "/usr/bin/leakscope --version: '$version'"
# Its libraries all resolved (the dependencies dpkg-shlibdeps declared).
if ldd /usr/bin/leakscope | grep -q 'not found'; then fail "libraries not found: $(ldd /usr/bin/leakscope | grep 'not found')"; fi
/usr/bin/leakscope trace --help >/dev/null || fail "/usr/bin/leakscope trace --help"

page=$(LC_ALL=C MANWIDTH=200 man --warnings -l /usr/share/man/man8/leakscope.8.gz 2>&1)
grep -q '^NAME' <<<"$page" || fail "man -l on the installed page: no NAME section: $page"
grep -q -- '--drill-rate' <<<"$page" || fail "the installed man page does not describe trace's options"
grep -q 'LEAKSCOPE(8)' <<<"$page" || fail "the installed man page is not leakscope(8)"

completion=/usr/share/bash-completion/completions/leakscope
bash -c "source $completion && complete -p leakscope" >/dev/null 2>&1 || fail "$completion does not register a completion for leakscope"
for doc in report.schema.json alerts-jsonl.md leakscope.rules.yml copyright changelog.gz; do
  [ -s "/usr/share/doc/leakscope/$doc" ] || fail "/usr/share/doc/leakscope/$doc missing"
done

# The default configuration: a conffile the installed binary reads, every
# key of it a flag (--all, which takes no -p, shows it was read).
dpkg-query -W -f='${Conffiles}' leakscope | grep -q '/etc/leakscope/leakscope.toml' ||
  fail "/etc/leakscope/leakscope.toml is not a conffile"
config_err=$(/usr/bin/leakscope trace --config /etc/leakscope/leakscope.toml -p 1 2>&1)
config_code=$?
[ "$config_code" -eq 2 ] && [[ $config_err == *"--all traces every process"* ]] ||
  fail "the installed config was not read as --all (exit $config_code): $config_err"
[ "$(stat -c %a /var/lib/leakscope 2>/dev/null)" = 700 ] || fail "/var/lib/leakscope is not a directory of mode 700"

# The service: its unit, and the system user it runs as, made by postinst.
unit=/lib/systemd/system/leakscope.service
[ -f "$unit" ] || fail "$unit missing"
if ! getent passwd leakscope >/dev/null; then
  fail "postinst made no user leakscope"
else
  [ "$(getent passwd leakscope | cut -d: -f3)" -lt 1000 ] || fail "the user leakscope is no system user"
  # The unit's ExecStart command line, run as the unit runs it (its user,
  # only its AmbientCapabilities=; systemd gives the user its
  # StateDirectory=), on a fixture leaking as another user: the packaged
  # config's --all drills into it and names its leak. Only the test's
  # bounds are added: a duration, only the fixture's comm (not another
  # agent's compiler taking the drill-downs), a drill rate the fixture
  # passes, a free metrics port and no control socket.
  caps=$(sed -n 's/^AmbientCapabilities=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
  fixture=$(dirname "$build_bin")/../tests/fixtures/fixture_demo_service
  chown leakscope:leakscope /var/lib/leakscope
  setpriv --reuid=61234 --regid=61234 --clear-groups "$fixture" >/dev/null 2>&1 &
  fixture_pid=$!
  sleep 1
  kill -0 "$fixture_pid" 2>/dev/null || fail "the fixture $fixture did not start as uid 61234"
  service_out=$(setpriv --reuid=leakscope --regid=leakscope --clear-groups --inh-caps="-all,$caps" \
    --ambient-caps="-all,$caps" --bounding-set="-all,$caps" \
    $exec_start --duration 15s --comm fixture_demo_se --drill-rate 16KiB --metrics 127.0.0.1:$((20000 + $$ % 20000)) --no-control 2>&1)
  service_code=$?
  kill "$fixture_pid" 2>/dev/null
  wait "$fixture_pid" 2>/dev/null
  [ "$service_code" -eq 0 ] || fail "ExecStart as the unit runs it (caps $caps) exited $service_code: $(tail -5 <<<"$service_out")"
  grep -q "PID $fixture_pid (fixture_demo_se) grows" <<<"$service_out" ||
    fail "ExecStart as the unit runs it did not drill into the fixture: $(grep -m5 'leakscope:' <<<"$service_out")"
  grep -q "remember_client" <<<"$service_out" || fail "ExecStart as the unit runs it did not name the fixture's leak site"
  [ $failures -eq 0 ] && echo "ok: ExecStart as user leakscope with $caps only named the leak"
fi

echo "apt-get remove -y leakscope"
apt_get remove -y leakscope >/dev/null 2>&1 || fail "apt-get remove -y leakscope"
[ ! -e /usr/bin/leakscope ] || fail "/usr/bin/leakscope still there after apt-get remove"
[ ! -e "$completion" ] || fail "$completion still there after apt-get remove"

cleanup
trap - EXIT
[ ! -e /etc/leakscope ] || fail "/etc/leakscope still there after purging"
[ ! -e /lib/systemd/system/leakscope.service ] || fail "the unit is still there after purging"
[ ! -e /var/lib/leakscope ] || fail "/var/lib/leakscope (the reports) is still there after purging"
for p in $ours; do
  ! installed "$p" || fail "$p is still installed after the cleanup"
done
if ((failures)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok: installed, ran $version, rendered its man page, removed; nothing it installed is left"
