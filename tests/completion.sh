#!/bin/bash
# tests/completion.sh — mgctl's bash completion (mgctl/bash-completion/mgctl):
# it completes commands, options and option values, and it offers every
# option that each command's --help lists, and the --format and --token-format
# values it names (so the two stay in step).
# Run by `make check` with MGCTL and MG_SRCDIR set; exit 77 without bash.
set -u
[ -n "${BASH_VERSION:-}" ] || exit 77
: "${MGCTL:?MGCTL must name the built mgctl}" "${MG_SRCDIR:?}"
# shellcheck source=/dev/null
. "$MG_SRCDIR/mgctl/bash-completion/mgctl"
fail=0

complete_line() { # the words of a command line; the last one is being completed
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _mgctl
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
expect() { # expected-output, words...
    local want=$1 got
    shift
    got=$(complete_line "$@")
    if [ "$got" != "$want" ]; then
        echo "FAIL: '$*' completes to '$got', expected '$want'"
        fail=1
    else
        echo "ok: '$*' -> '$got'"
    fi
}

expect "validate verify" mgctl v
expect "--help --version" mgctl --
expect "--access --alg" mgctl sign --a
expect "github json text" mgctl validate --format ""  # sorted
expect "github json text" mgctl test -f ""
expect "json text" mgctl explain -f ""
expect "ed25519 hmac-sha1 hmac-sha256" mgctl keygen --alg ""
expect "end-of-day end-of-month end-of-week" mgctl sign --ttl 1h --expires end
expect "" mgctl explain -e ""           # --env takes a free-form NAME=VALUE
expect "compile" mgctl help comp
expect "migrate-report" mgctl mi
expect "reset show" mgctl uses ""
expect "check init" mgctl store ""
expect "json text" mgctl store check --format ""
expect "akamai-edgeauth bunny cloudfront gcp-cdn imagekit lighttpd-secdownload nginx-secure-link" \
    mgctl sign --token-format ""

# the values --help names: each command's --format, sign's --token-format
for cmd in validate test explain sign verify migrate-report store; do
    want=$("$MGCTL" "$cmd" --help | awk '/^ +-f, --format/ { on = 1; print; next } on && /^ +-/ { exit } on' |
        grep -oE '\b(text|json|github)\b' | sort -u | tr '\n' ' ' | sed 's/ $//')
    expect "$want" mgctl "$cmd" -f ""
done
want=$("$MGCTL" sign --help | tr '\n' ' ' | tr -s ' ' | grep -oE 'mint links of format F \([^)]*\)' |
    sed -e 's/.*(//' -e 's/)//' | tr -d ',' | tr ' ' '\n' | grep . | sort | tr '\n' ' ' | sed 's/ $//')
expect "$want" mgctl sign --token-format ""

# files: policies for --policy, test files for test
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/sub"
touch "$tmp/a.yaml" "$tmp/b.test.yaml" "$tmp/notes.txt"
(cd "$tmp" && expect "a.yaml b.test.yaml sub" mgctl explain --policy "") || fail=1
(cd "$tmp" && expect "b.test.yaml sub" mgctl test "") || fail=1

# every option of every command's --help is offered after '-'
for cmd in validate compile test explain sign verify migrate-report keygen uses revoke store; do
    offered=" $(complete_line mgctl "$cmd" -) "
    for opt in $("$MGCTL" "$cmd" --help | grep -oE '^ +(-[A-Za-z], )?--[a-z-]+' | grep -oE -- '-[A-Za-z]\b|--[a-z-]+'); do
        case $offered in
            *" $opt "*) ;;
            *) echo "FAIL: mgctl $cmd --help lists $opt, the completion does not offer it"; fail=1 ;;
        esac
    done
done
[ $fail -eq 0 ] && echo "completion: all ok"
exit $fail
