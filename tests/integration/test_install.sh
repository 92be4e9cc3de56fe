#!/bin/sh
# test_install.sh — `make install PREFIX= DESTDIR=` lays out what a system
# service needs: the three programs under non-colliding names, hardened
# systemd units pointing at them, the sysusers.d entry, man pages that
# render without warnings (cloudai.ini(5) lists every key of the example),
# bash completion that completes verbs and flags, the example config.
. tests/integration/lib.sh

D=$T/dest
if make -s --no-print-directory install PREFIX=/usr DESTDIR="$D" >"$T/install.log" 2>&1; then
    ok "make install PREFIX=/usr DESTDIR=... succeeds"
else
    not_ok "make install PREFIX=/usr DESTDIR=... succeeds"; diag "$(tail -20 "$T/install.log")"; finish
fi
(cd "$D" && find . \( -type f -o -type l \) | sort) >"$T/files"
cat >"$T/want" <<'LIST'
./usr/bin/cloudai
./usr/bin/cloudai-certs
./usr/bin/cloudai-master
./usr/bin/cloudai-worker
./usr/lib/systemd/system/cloudai-master.service
./usr/lib/systemd/system/cloudai-worker.service
./usr/lib/sysusers.d/cloudai.conf
./usr/share/bash-completion/completions/cloudai
./usr/share/bash-completion/completions/cloudai-master
./usr/share/bash-completion/completions/cloudai-worker
./usr/share/cloudai/cloudai.ini.example
./usr/share/man/man1/cloudai.1
./usr/share/man/man5/cloudai.ini.5
./usr/share/man/man8/cloudai-master.8
./usr/share/man/man8/cloudai-worker.8
LIST
# Every wanted file must be there, nothing may land outside PREFIX.
missing=$(comm -23 "$T/want" "$T/files")
want_eq "every expected file is installed" "$missing" ""
check "nothing installed outside PREFIX" sh -c "! grep -v '^./usr/' '$T/files'"
for p in cloudai cloudai-master cloudai-worker; do
    check "$p is executable (755)" sh -c "[ \"\$(stat -c %a '$D/usr/bin/$p')\" = 755 ]"
done
check "no program named master or worker (they would collide)" sh -c "[ ! -e '$D/usr/bin/master' ] && [ ! -e '$D/usr/bin/worker' ]"
"$D/usr/bin/cloudai-master" -h >/dev/null 2>&1; want_eq "installed cloudai-master runs (-h)" "$?" 0

U=$D/usr/lib/systemd/system
check "master unit starts /usr/bin/cloudai-master" grep -qx 'ExecStart=/usr/bin/cloudai-master -config /etc/cloudai/cloudai.ini --no-console' "$U/cloudai-master.service"
check "worker unit starts /usr/bin/cloudai-worker" grep -qx 'ExecStart=/usr/bin/cloudai-worker -config /etc/cloudai/cloudai.ini' "$U/cloudai-worker.service"
for u in cloudai-master cloudai-worker; do
    for d in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes 'CapabilityBoundingSet=' User=cloudai; do
        check "$u: $d" grep -qx "$d" "$U/$u.service"
    done
done
check "master writes only its data (ReadWritePaths=/var/lib/cloudai)" grep -qx 'ReadWritePaths=/var/lib/cloudai' "$U/cloudai-master.service"
check "worker writes only its outputs (ReadWritePaths=/var/lib/cloudai-worker)" grep -qx 'ReadWritePaths=/var/lib/cloudai-worker' "$U/cloudai-worker.service"
check "worker is in the docker group" grep -qx 'SupplementaryGroups=docker' "$U/cloudai-worker.service"
check "sysusers.d creates the cloudai user" grep -q '^u cloudai ' "$D/usr/lib/sysusers.d/cloudai.conf"

# systemd's own checks, on an install whose ExecStart paths exist.
P=$T/prefix
if command -v systemd-analyze >/dev/null 2>&1 &&
   make -s --no-print-directory install PREFIX="$P" >"$T/install2.log" 2>&1; then
    if systemd-analyze --man=no verify "$P/lib/systemd/system/cloudai-master.service" \
         "$P/lib/systemd/system/cloudai-worker.service" >"$T/verify.log" 2>&1; then
        ok "systemd-analyze verify accepts both units"
    else
        not_ok "systemd-analyze verify accepts both units"; diag "$(cat "$T/verify.log")"
    fi
    for u in cloudai-master cloudai-worker; do
        diag "$(systemd-analyze --offline=true security "$P/lib/systemd/system/$u.service" 2>/dev/null | tail -n 1)"
    done
else
    skip "systemd-analyze not installed (package systemd): units not verified"
fi

# Man pages render without warnings; cloudai.ini(5) documents every key.
if command -v man >/dev/null 2>&1; then
    for m in man1/cloudai.1 man5/cloudai.ini.5 man8/cloudai-master.8 man8/cloudai-worker.8; do
        w=$(MANWIDTH=80 man --warnings -l "$D/usr/share/man/$m" 2>&1 >/dev/null)
        want_eq "man page $m renders without warnings" "$w" ""
    done
    MANWIDTH=200 man -l "$D/usr/share/man/man5/cloudai.ini.5" 2>/dev/null >"$T/ini5.txt"
    nkeys=0; nmiss=0
    for k in $(sed -n 's/^\([a-z_][a-z_.]*\) = .*/\1/p' config.example.ini); do
        nkeys=$((nkeys + 1))
        grep -q "^ *$k = " "$T/ini5.txt" || { nmiss=$((nmiss + 1)); diag "$k not in cloudai.ini(5)"; }
    done
    want_eq "cloudai.ini(5) documents all $nkeys keys of config.example.ini" "$nmiss" 0
else
    skip "man not installed (package man-db): pages not rendered"
fi

# Bash completion, against the installed client.
C=$D/usr/share/bash-completion/completions/cloudai
comp() { # WORDS... — what completing the last word offers
    PATH="$D/usr/bin:$PATH" bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
        if [ "$1" = cloudai ]; then _cloudai "$1"; else _cloudai_daemon "$1"; fi; echo "${COMPREPLY[*]}"' _ "$C" "$@"
}
want_eq "completes verbs (cloudai ta)" "$(comp cloudai ta)" "task tasks"
want_eq "completes a verb's flags (cloudai task -na)" "$(comp cloudai task -na)" "-name"
want_eq "completes daemon flags (cloudai-master --d)" "$(comp cloudai-master --d)" "--dev"
want_eq "completes override sections (cloudai-worker work)" "$(comp cloudai-worker work)" "worker."
finish
