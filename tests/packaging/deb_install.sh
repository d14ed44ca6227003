#!/bin/bash
# The .deb as an operator installs it: `apt-get install ./leakscope_*.deb`
# into this machine, then /usr/bin/leakscope --version, `man -l` on the
# installed page, the completion and the docs where they belong, and
# `apt-get remove -y leakscope`. The machine is left as it was, on failure
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
  /etc/leakscope /var/lib/leakscope; do
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

echo "apt-get remove -y leakscope"
apt_get remove -y leakscope >/dev/null 2>&1 || fail "apt-get remove -y leakscope"
[ ! -e /usr/bin/leakscope ] || fail "/usr/bin/leakscope still there after apt-get remove"
[ ! -e "$completion" ] || fail "$completion still there after apt-get remove"

cleanup
trap - EXIT
[ ! -e /etc/leakscope ] || fail "/etc/leakscope still there after purging"
for p in $ours; do
  ! installed "$p" || fail "$p is still installed after the cleanup"
done
if ((failures)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok: installed, ran $version, rendered its man page, removed; nothing it installed is left"
