#!/bin/bash
# The man page and the bash completion against the binary they were made
# from: every option of every subcommand's --help is offered by the
# completion and described by the man page (as `man -l` renders it, without
# warnings); -p and attach complete PIDs with their comm.
#   man_and_completion.sh LEAKSCOPE MAN_PAGE COMPLETION
set -uo pipefail
bin=$1 page=$2 completion=$3
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

[ -s "$page" ] || { echo "FAIL: no man page $page (is help2man installed? run tools/setup)" >&2; exit 1; }
[ -s "$completion" ] || { echo "FAIL: no completion $completion" >&2; exit 1; }

# The page as a reader sees it: plain ASCII, one line per option.
rendered=$(LC_ALL=C MANWIDTH=400 man --warnings -l "$page" 2>"${TMPDIR:-/tmp}/leakscope-man-warnings.$$")
warnings=$(cat "${TMPDIR:-/tmp}/leakscope-man-warnings.$$")
rm -f "${TMPDIR:-/tmp}/leakscope-man-warnings.$$"
[ -n "$rendered" ] || fail "man -l $page rendered nothing"
[ -z "$warnings" ] || fail "man -l $page warns: $warnings"
grep -q '^NAME' <<<"$rendered" || fail "man page: no NAME section"
grep -q 'leakscope - find the call stacks' <<<"$rendered" || fail "man page: NAME is not leakscope's"

# Completes the command line "$@" (the last word being completed), sets $reply.
source "$completion"
complete_line() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="$*"
  COMPREPLY=()
  _leakscope
  reply=" ${COMPREPLY[*]} "
}

# The subcommands, as leakscope --help lists them.
subcommands=$("$bin" --help | sed -n '/^Subcommands:$/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
[ "$(wc -w <<<"$subcommands")" -ge 5 ] || fail "leakscope --help lists too few subcommands: $subcommands"
complete_line leakscope ""
for sub in $subcommands; do
  [[ $reply == *" $sub "* ]] || fail "completion: 'leakscope <TAB>' does not offer $sub (got:$reply)"
  grep -q "^   leakscope $sub, Options:" <<<"$rendered" || fail "man page: no section for leakscope $sub"
done

checked=0
for sub in $subcommands; do
  # Every option name of `leakscope SUB --help`: "-p,--pid TEXT ..." gives -p and --pid.
  names=$("$bin" "$sub" --help | sed -n 's/^  \(-[^ ]*\).*/\1/p' | tr ',' '\n')
  [ -n "$names" ] || fail "leakscope $sub --help lists no options"
  complete_line leakscope "$sub" -
  all=$reply
  for name in $names; do
    checked=$((checked + 1))
    [[ $all == *" $name "* ]] || fail "completion: 'leakscope $sub -<TAB>' does not offer $name"
    complete_line leakscope "$sub" "$name"
    [[ $reply == *" $name "* ]] || fail "completion: 'leakscope $sub $name<TAB>' does not offer $name"
    # In the page, each option heads its own entry: "       -p,--pid TEXT ...".
    grep -qE "^ +(-[^ ]*,)?$name([ ,]|\$)" <<<"$rendered" || fail "man page: $name of $sub not described"
  done
done
[ "$checked" -ge 50 ] || fail "only $checked options checked: is leakscope trace --help parsed?"

# Values: choices from the help, PIDs with their comm.
complete_line leakscope trace --weight ""
[ "$reply" = " live growth " ] || fail "completion: --weight offers:$reply"
sleep 300 &
sleeper=$!
trap 'kill $sleeper 2>/dev/null' EXIT
complete_line leakscope trace -p "$sleeper"
[ "$reply" = " $sleeper " ] || [[ $reply == *" $sleeper (sleep) "* ]] ||
  fail "completion: -p $sleeper offers:$reply"
complete_line leakscope trace -p ""
[[ $reply == *"$sleeper (sleep)"* ]] || fail "completion: -p <TAB> does not list $sleeper (sleep)"
complete_line leakscope trace --pid "1,$sleeper"
[[ $reply == *" 1,$sleeper"* ]] || fail "completion: -p 1,$sleeper offers:$reply"
complete_line leakscope attach ""
[[ $reply == *"$sleeper (sleep)"* ]] || fail "completion: attach <TAB> does not list $sleeper (sleep)"
complete_line leakscope trace --kinds heap,mm
[ "$reply" = " heap,mmap " ] || fail "completion: --kinds heap,mm offers:$reply"
complete_line leakscope trace -- sleep -
[[ $reply != *"--pid"* ]] || fail "completion: after 'trace --' leakscope's flags are offered"

if ((failures)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok: $checked options of $(wc -w <<<"$subcommands") subcommands completed and in the man page"
