#!/bin/bash
# Writes the bash completion of leakscope to OUT from the CLI's own --help:
# the subcommands listed by `leakscope --help`, and for each of them every
# option of `leakscope SUB --help`, whether it takes a value, and the values
# of those that list them ({live,growth}). Run at build time on the built
# binary (packaging/CMakeLists.txt), so the completion cannot drift from the
# flags. What a value means (a PID, a file, a kind) is the one thing known
# here by name: see _leakscope_complete_value below.
#   gen-completion.sh LEAKSCOPE OUT
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: gen-completion.sh LEAKSCOPE OUT" >&2; exit 2; }
bin=$1 out=$2

subcommands=$("$bin" --help | sed -n '/^Subcommands:$/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$subcommands" ] || { echo "gen-completion.sh: no subcommands in $bin --help" >&2; exit 1; }

# One line per option of a --help: "NAMES VALUED CHOICES", NAMES and CHOICES
# comma-separated ("-p,--pid 1 -", "--weight 1 live,growth", "--all 0 -").
# An option line is "  -x,--name [TYPE[:...][=DEFAULT]] [Needs:/Excludes: ...]  text";
# a TYPE (TEXT, UINT, ...) means it takes a value.
options_of() {
  "$bin" "$@" --help | awk '
    /^  -/ {
      line = substr($0, 3)
      sub(/  .*/, "", line)               # the description, after two spaces
      n = split(line, t, " ")
      valued = (n >= 2 && t[2] ~ /^[A-Z]+([:=\[]|$)/) ? 1 : 0
      choices = "-"
      if (valued && match(t[2], /:\{[^}]*\}/))
        choices = substr(t[2], RSTART + 2, RLENGTH - 3)
      print t[1], valued, choices
    }'
}
# The positional arguments: "NAME" per line (trace: command, attach: pid).
positionals_of() {
  "$bin" "$@" --help | awk '/^Positionals:$/ { p = 1; next } /^$/ { p = 0 } p && /^  [a-z]/ { print $1 }'
}

{
  cat <<'EOF'
# bash completion for leakscope(8). Generated from leakscope's own --help by
# packaging/gen-completion.sh at build time: do not edit.
EOF
  printf '_leakscope_subcommands=%q\n' "$(echo $subcommands)"
  printf '_leakscope_top_options=%q\n' "$(options_of | awk '{ gsub(",", " ", $1); printf "%s ", $1 }' | sed 's/ $//')"
  echo '# The options of SUBCOMMAND, every name of each.'
  echo '_leakscope_options() {'
  echo '  case $1 in'
  for sub in $subcommands; do
    printf '  %s) echo %q ;;\n' "$sub" "$(options_of "$sub" | awk '{ gsub(",", " ", $1); printf "%s ", $1 }' | sed 's/ $//')"
  done
  echo '  esac'
  echo '}'
  echo '# Does option $2 of subcommand $1 take a value? Prints its choices, if it lists them, or "-".'
  echo '_leakscope_option_value() {'
  echo '  case "$1 $2" in'
  for sub in $subcommands; do
    options_of "$sub" | while read -r names valued choices; do
      [ "$valued" = 1 ] || continue
      pattern=$(echo "$names" | tr ',' '\n' | sed "s/^/$sub /" | sed 's/.*/"&"/' | paste -sd'|')
      printf '  %s) echo %q ;;\n' "$pattern" "${choices//,/ }"
    done
  done
  echo '  *) return 1 ;;'
  echo '  esac'
  echo '}'
  echo '# The positional arguments of subcommand $1.'
  echo '_leakscope_positionals() {'
  echo '  case $1 in'
  for sub in $subcommands; do
    printf '  %s) echo %q ;;\n' "$sub" "$(positionals_of "$sub" | paste -sd' ')"
  done
  echo '  esac'
  echo '}'
  cat <<'EOF'

# PIDs of the running processes with their comm, for -p and attach/detach
# (kernel threads left out).
# Offered as "PID (comm)" while several match, so the list shows what each
# is; a single match is completed to the PID alone. $1: what is typed of it.
_leakscope_pids() {
  local cur=$1 dir pid comm
  local -a matches=()
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [[ $pid == "$cur"* ]] || continue
    # Kernel threads (no command line) cannot be traced.
    local cmdline=
    IFS= read -r -d '' cmdline <"$dir/cmdline" 2>/dev/null
    [[ -n $cmdline ]] || continue
    comm=
    read -r comm <"$dir/comm" 2>/dev/null || continue
    matches+=("$pid ($comm)")
  done
  if ((${#matches[@]} == 1)); then
    COMPREPLY=("${matches[0]%% *}")
  else
    COMPREPLY=("${matches[@]}")
  fi
}

# A value typed as a comma-separated list (-p 1,2, --kinds heap,mmap): the
# words of $2 completed after the last comma of $1.
_leakscope_list() {
  local cur=$1 words=$2 head= w
  [[ $cur == *,* ]] && head=${cur%,*},
  COMPREPLY=()
  for w in $words; do
    [[ $w == "${cur##*,}"* ]] && COMPREPLY+=("$head$w")
  done
  [[ ${#COMPREPLY[@]} -gt 0 ]] && compopt -o nospace 2>/dev/null
}

# The value of option $2 of subcommand $1, typed so far $3.
_leakscope_complete_value() {
  local sub=$1 option=$2 cur=$3 choices
  choices=$(_leakscope_option_value "$sub" "$option") || return 1
  if [[ $choices != - ]]; then
    COMPREPLY=($(compgen -W "$choices" -- "$cur"))
    return 0
  fi
  case $option in
  -p | --pid | --exclude-pid)
    if [[ $cur == *,* ]]; then
      local head=${cur%,*}, tail=${cur##*,}
      _leakscope_pids "$tail"
      COMPREPLY=("${COMPREPLY[@]/#/$head}")
    else
      _leakscope_pids "$cur"
    fi
    ;;
  --kinds) _leakscope_list "$cur" "heap mmap brk timerfd epoll fault js" ;;
  --format) _leakscope_list "$cur" "text json folded pprof html" ;;
  --json | -o | --output | --btf | --config) COMPREPLY=($(compgen -f -- "$cur")) ;;
  --report-dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
  --control) COMPREPLY=($(compgen -f -- "${cur:-/run/leakscope/}")) ;;
  --comm) COMPREPLY=($(compgen -W "$(cat /proc/[0-9]*/comm 2>/dev/null | sort -u)" -- "$cur")) ;;
  --alert)
    COMPREPLY=($(compgen -W "stdout journald jsonl: alertmanager: exec:" -- "$cur"))
    [[ ${COMPREPLY[0]-} == *: ]] && compopt -o nospace 2>/dev/null
    ;;
  *) COMPREPLY=() ;;  # a number, a duration, a rate: nothing to offer
  esac
  return 0
}

_leakscope() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev= option= sub= i word
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  # "--opt=value": bash splits at '=' (COMP_WORDBREAKS).
  if [[ $prev == = ]] && ((COMP_CWORD > 1)); then
    option=${COMP_WORDS[COMP_CWORD - 2]}
  elif [[ $cur == =* ]] && [[ $prev == -* ]]; then
    option=$prev cur=${cur#=}
  fi
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ -z $sub && " $_leakscope_subcommands " == *" $word "* ]]; then
      sub=$word
    elif [[ $sub == trace && $word == -- ]]; then
      # trace -- COMMAND ARGS: the command's own completion.
      COMP_WORDS=("${COMP_WORDS[@]:i+1}")
      COMP_CWORD=$((COMP_CWORD - i - 1))
      if ((COMP_CWORD == 0)); then
        COMPREPLY=($(compgen -c -- "$cur"))
      else
        COMPREPLY=($(compgen -f -- "$cur"))
      fi
      return 0
    fi
  done

  if [[ -z $sub ]]; then
    COMPREPLY=($(compgen -W "$_leakscope_subcommands $_leakscope_top_options" -- "$cur"))
    return 0
  fi
  if [[ -n $option ]]; then
    _leakscope_complete_value "$sub" "$option" "$cur" && return 0
  elif [[ $prev == -* ]] && _leakscope_complete_value "$sub" "$prev" "$cur"; then
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_leakscope_options "$sub")" -- "$cur"))
    return 0
  fi
  # A positional: attach/detach take a PID.
  case " $(_leakscope_positionals "$sub") " in
  *" pid "*) _leakscope_pids "$cur" ;;
  *) COMPREPLY=() ;;
  esac
  return 0
}
complete -F _leakscope leakscope
EOF
} >"$out.tmp"
bash -n "$out.tmp"
mv "$out.tmp" "$out"
