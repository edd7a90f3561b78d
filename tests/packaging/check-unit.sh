#!/bin/sh
# Checks the rendered confabd.service (plus confabd.socket and the sysusers
# entry): hardening score from `systemd-analyze security --offline=yes`
# (must be <= 1.5), `systemd-analyze verify` finds nothing but the missing
# (not yet installed) binary, and the directives the contract relies on.
# Usage: check-unit.sh SERVICE SOCKET SYSUSERS
set -u

service=$1
socket=$2
sysusers=$3
status=0

fail() {
    echo "FAIL: $*" >&2
    status=1
}

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "SKIP: systemd-analyze not installed" >&2
    exit 77
fi

# 1. Exposure score. --threshold=15 makes systemd-analyze exit non-zero above 1.5.
report=$(systemd-analyze security --offline=yes --threshold=15 "$service" 2>&1)
rc=$?
score=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security: exposure ${score:-?} (limit 1.5)"
if [ "$rc" -ne 0 ] || [ -z "$score" ]; then
    printf '%s\n' "$report" | grep -v '✓' >&2
    fail "exposure score ${score:-unknown} above 1.5 (systemd-analyze exit $rc)"
fi

# 2. systemd-analyze verify: unknown keys, bad values, broken references.
#    The binary is not installed when testing from the build tree; ignore
#    exactly that complaint.
verify=$(systemd-analyze verify --man=no "$service" "$socket" 2>&1 |
         grep -v 'is not executable: No such file or directory' |
         grep -v '^$')
if [ -n "$verify" ]; then
    printf '%s\n' "$verify" >&2
    fail "systemd-analyze verify reported problems"
fi

# 3. Directives the daemon and packaging rely on (exact lines).
for line in \
    'Type=notify' \
    'NotifyAccess=main' \
    'ExecReload=/bin/kill -HUP $MAINPID' \
    'Restart=on-failure' \
    'RestartPreventExitStatus=78' \
    'WatchdogSec=30s' \
    'User=_confab' \
    'Group=_confab' \
    'StateDirectory=confab' \
    'RuntimeDirectory=confab' \
    'ConfigurationDirectory=confab' \
    'UMask=0077' \
    'LimitNOFILE=65536' \
    'CapabilityBoundingSet=' \
    'NoNewPrivileges=yes' \
    'MemoryMax=1G' \
    'TasksMax=64' \
    'ProtectSystem=strict' \
    'MemoryDenyWriteExecute=yes' \
    'SystemCallFilter=@system-service' \
    'SystemCallFilter=~@privileged @resources' \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
    'Documentation=man:confabd(8) man:confabd.toml(5)' \
    'WantedBy=multi-user.target'
do
    grep -qxF -- "$line" "$service" || fail "$service lacks '$line'"
done
# Inside PrivateUsers= the control socket sees members of the daemon's group as nobody.
grep -q '^PrivateUsers=yes' "$service" && fail "$service sets PrivateUsers=yes: confabctl would refuse group members"
grep -qE '^ExecStart=/[^ ]*/sbin/confabd --config /[^ ]*/confab/confabd\.toml$' "$service" ||
    fail "ExecStart is not '<sbindir>/confabd --config <sysconfdir>/confab/confabd.toml'"
if grep -q '@[a-z]*@' "$service"; then
    fail "unsubstituted @variables@ left in $service"
fi
if grep -qE '^(User|Group)=(nobody|nogroup|root)$|^DynamicUser=' "$service"; then
    fail "service must run as the static _confab user"
fi

grep -qxF 'Service=confabd.service' "$socket" || fail "$socket lacks Service=confabd.service"
grep -qE '^ListenStream=.+:7420$' "$socket" || fail "$socket does not listen on port 7420"
grep -qE '^u[[:space:]]+_confab[[:space:]]+-[[:space:]]+"[^"]+"[[:space:]]+/var/lib/confab$' "$sysusers" ||
    fail "$sysusers lacks the _confab user line"

[ "$status" -eq 0 ] && echo "unit checks passed"
exit "$status"
