#!/bin/bash
# tests/logno.sh — every error-log message of the module carries its own
# MG_LOGNO(nnnnn) tag (mod_media_guard/mg_mod.h), no number is used twice,
# and docs/directives.md ("Error-log messages") lists each number, so that an
# admin who searches for "MG00203" finds what it means, at the level the
# table gives. The APLOG_STARTUP lines of `apache2 -t` (file:line:column
# diagnostics) are the one exception.
# Run by `make check` with MG_SRCDIR set.
set -u
: "${MG_SRCDIR:?}"
fail=0
doc="$MG_SRCDIR/docs/directives.md"

for f in "$MG_SRCDIR"/mod_media_guard/*.c; do
    # each ap_log_*error( call up to its format string, joined onto one line
    calls=$(awk '
        /ap_log_[rpc]?error\(/ { call = ""; in_call = 1 }
        in_call { call = call $0; if ($0 ~ /"/) { print call; in_call = 0 } }
    ' "$f")
    [ -n "$calls" ] || continue
    while IFS= read -r call; do
        case "$call" in
        *APLOG_STARTUP*) ;;
        *MG_LOGNO\(*) ;;
        *)
            echo "FAIL: ${f#"$MG_SRCDIR"/}: a log call without MG_LOGNO: $(echo "$call" | tr -s ' ')"
            fail=1
            ;;
        esac
    done <<<"$calls"
done

tags=$(grep -oh 'MG_LOGNO([0-9]*)' "$MG_SRCDIR"/mod_media_guard/*.c | grep -o '[0-9]\{5\}' | sort)
[ -n "$tags" ] || { echo "FAIL: no MG_LOGNO tag found"; exit 1; }
dups=$(echo "$tags" | uniq -d)
if [ -n "$dups" ]; then
    echo "FAIL: MG_LOGNO numbers used twice: $dups"
    fail=1
fi
for n in $tags; do
    if ! grep -q "MG$n" "$doc"; then
        echo "FAIL: MG$n is not listed in docs/directives.md (Error-log messages)"
        fail=1
    fi
done
# and the list names no number the code no longer has
for n in $(grep -o 'MG[0-9]\{5\}' "$doc" | grep -o '[0-9]\{5\}' | sort -u); do
    if ! echo "$tags" | grep -qx "$n"; then
        echo "FAIL: docs/directives.md lists MG$n, which no log call has"
        fail=1
    fi
done
# the level the table gives is the level of the call: for a literal APLOG_X
# the table's level column must start with X's name (a computed level, such as
# the decision line's, is said in words and not compared)
while read -r n lvl; do
    want=$(case "$lvl" in
        APLOG_EMERG) echo emerg ;; APLOG_ALERT) echo alert ;; APLOG_CRIT) echo crit ;;
        APLOG_ERR) echo error ;; APLOG_WARNING) echo warn ;; APLOG_NOTICE) echo notice ;;
        APLOG_INFO) echo info ;; APLOG_DEBUG) echo debug ;; APLOG_TRACE[1-8]) echo "trace${lvl#APLOG_TRACE}" ;;
        esac)
    [ -n "$want" ] || continue
    got=$(grep -oE "^\| \`MG$n\` \| [a-z0-9]+" "$doc" | awk '{ print $NF }')
    if [ "$got" != "$want" ]; then
        echo "FAIL: MG$n is logged at $want, docs/directives.md says '${got:-nothing}'"
        fail=1
    fi
done < <(for f in "$MG_SRCDIR"/mod_media_guard/*.c; do
    awk '
        /ap_log_[rpc]?error\(/ { call = ""; in_call = 1 }
        in_call { call = call $0
            if (call ~ /MG_LOGNO\([0-9]+\)/) {
                lvl = call; sub(/.*APLOG_MARK, */, "", lvl); sub(/[ ,|].*/, "", lvl)
                n = call; sub(/.*MG_LOGNO\(/, "", n); sub(/\).*/, "", n)
                print n, lvl; in_call = 0
            } else if (call ~ /"/) in_call = 0 }
    ' "$f"
done)
[ "$fail" = 0 ] && echo "ok: $(echo "$tags" | wc -l) tagged log messages, each listed once at its level"
exit "$fail"
