#!/bin/sh
# What help2man reads to make leakscope(8): `man-help.sh --help` prints
# `leakscope --help` and then every subcommand's own --help (the subcommands
# listed by leakscope --help itself), each group of options headed
# "leakscope SUBCOMMAND: GROUP:" so that help2man gives it a subsection;
# `man-help.sh --version` is `leakscope --version`. The leakscope run is the
# first in PATH (the build's, put there by packaging/CMakeLists.txt), so the
# page cannot describe flags the binary does not have.
set -eu
case "${1:-}" in
--version) exec leakscope --version ;;
--help)
  leakscope --help
  subcommands=$(leakscope --help | sed -n '/^Subcommands:$/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
  [ -n "$subcommands" ] || { echo "man-help.sh: no subcommands in leakscope --help" >&2; exit 1; }
  for sub in $subcommands; do
    help=$(leakscope "$sub" --help)
    echo
    # Its summary line, then its usage, as a subsection of their own.
    echo "leakscope $sub:"
    echo "$help" | sed -n '1s/^/  /p'
    echo
    echo "$help" | sed -n 's/^Usage: /  Usage: /p'
    echo
    # The option groups ("Options:", "Detector:", ...) headed with the subcommand.
    echo "$help" | sed '1,/^Usage: /d' | sed "s/^\([A-Z][A-Za-z.]*\( [A-Za-z.]*\)*\):\$/leakscope $sub, \1:/"
  done
  ;;
*)
  echo "usage: man-help.sh --help | --version" >&2
  exit 2
  ;;
esac
