#!/bin/bash
# tests/manpage.sh — mgctl(1) (docs/mgctl.1) says what the built mgctl does:
# every command of `mgctl --help` has a section and a SYNOPSIS line in the
# man page and a row in docs/mgctl.md's table; every option that a command's
# --help lists is described (a .TP item) in that command's section, and the
# section describes no option that --help does not list; mgctl --help names
# every action of a command that has them (store check|init). -h/--help is said
# once for all commands and is not compared.
# Run by `make check` with MGCTL and MG_SRCDIR set.
set -u
: "${MGCTL:?MGCTL must name the built mgctl}" "${MG_SRCDIR:?}"
man="$MG_SRCDIR/docs/mgctl.1"
tour="$MG_SRCDIR/docs/mgctl.md"
fail=0

# the man source as plain text: \- is -, font escapes and quotes go
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/"//g' "$man"; }

# the commands main.c lists (two spaces, the name, the summary)
commands=$("$MGCTL" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
[ -n "$commands" ] || { echo "FAIL: no command list in 'mgctl --help'"; exit 1; }

# the options a --help text lists: lines starting with blanks then -x or --xx
help_options() {
    "$MGCTL" "$1" --help | grep -E '^ +-' | sed -E 's/^ +//' |
        grep -oE '^(-[A-Za-z], )?--[a-z][a-z-]*' | tr ',' '\n' | tr -d ' ' |
        grep -vxE -- '-h|--help' | sort -u
}

# the options a man section describes: the tag line after each .TP
man_options() { # command
    plain | awk -v cmd="$1" '
        /^\.S[HS] / { sec = $2; sub(/^\.S[HS] /, ""); on = (sec == cmd); next }
        on && /^\.TP/ { tag = 1; next }
        on && tag { print; tag = 0 }
    ' | grep -oE '(^|[ ,])--?[A-Za-z][a-z-]*' | tr -d ' ,' | grep -vxE -- '-h|--help' | sort -u
}

for cmd in $commands; do
    [ "$cmd" = help ] && continue
    if ! plain | grep -qE "^\.SS $cmd( |$)"; then
        echo "FAIL: mgctl(1) has no section for '$cmd' (.SS $cmd ...)"
        fail=1
        continue
    fi
    if ! plain | grep -qE "^\.B mgctl $cmd( |$)"; then
        echo "FAIL: mgctl(1)'s SYNOPSIS has no 'mgctl $cmd' line"
        fail=1
    fi
    if ! grep -qF "| \`mgctl $cmd " "$tour"; then
        echo "FAIL: docs/mgctl.md's command table has no row for 'mgctl $cmd'"
        fail=1
    fi
    # a command with actions (mgctl store check|init): mgctl --help's summary
    # names each one, so that a reader of the command list finds it
    summary=$("$MGCTL" --help | awk -v c="$cmd" '$1 == c { $1 = ""; print }')
    for act in $("$MGCTL" "$cmd" --help | grep -oE "mgctl $cmd [a-z]+(\|[a-z]+)*( |$)" |
        awk '{ print $3 }' | tr '|' '\n' | sort -u); do
        if ! grep -qw -- "$act" <<<"$summary"; then
            echo "FAIL: 'mgctl --help' says of $cmd '${summary# }', without its action '$act'"
            fail=1
        fi
    done
    h=$(help_options "$cmd")
    m=$(man_options "$cmd")
    missing=$(comm -23 <(echo "$h") <(echo "$m") | tr '\n' ' ')
    extra=$(comm -13 <(echo "$h") <(echo "$m") | tr '\n' ' ')
    if [ -n "$missing" ]; then
        echo "FAIL: 'mgctl $cmd --help' lists ${missing% }, which mgctl(1)'s '$cmd' section does not describe"
        fail=1
    fi
    if [ -n "$extra" ]; then
        echo "FAIL: mgctl(1)'s '$cmd' section describes ${extra% }, which 'mgctl $cmd --help' does not list"
        fail=1
    fi
    [ -z "$missing$extra" ] && echo "ok: $cmd: $(echo "$h" | wc -l) options in --help and mgctl(1)"
done
exit "$fail"
