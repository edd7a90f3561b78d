#!/bin/sh
# Builds the Debian packages with packaging/build-deb and checks them: file
# list, conffiles, maintainer scripts and lintian (no E: tags).
# Usage: check-deb.sh SOURCE_ROOT WORK_DIR
# Exit 77 (skip) when not root, when dpkg-buildpackage is missing, or when
# already running inside a package build.
set -u

top=$1
work=$2
status=0

fail() {
    echo "FAIL: $*" >&2
    status=1
}

if [ -n "${CONFAB_IN_DEB_BUILD:-}" ]; then
    echo "SKIP: running inside a package build" >&2
    exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root (installs missing build dependencies)" >&2
    exit 77
fi
if ! command -v dpkg-buildpackage >/dev/null 2>&1; then
    echo "SKIP: dpkg-buildpackage not installed" >&2
    exit 77
fi

out="$work/deb-out"
rm -rf "$out"
mkdir -p "$out"
if ! "$top/packaging/build-deb" --outdir "$out" --no-lintian; then
    echo "FAIL: packaging/build-deb failed" >&2
    exit 1
fi

daemon_deb=$(ls "$out"/confabd_*.deb 2>/dev/null | head -n 1)
client_deb=$(ls "$out"/confab_*.deb 2>/dev/null | head -n 1)
[ -n "$daemon_deb" ] || { echo "FAIL: no confabd .deb built" >&2; exit 1; }
[ -n "$client_deb" ] || { echo "FAIL: no confab .deb built" >&2; exit 1; }

# File lists (dpkg-deb -c prints "./path"; units may live in /lib or /usr/lib).
dpkg-deb -c "$daemon_deb" | awk '{print $6}' | sed 's|^\./|/|' > "$work/confabd.files"
dpkg-deb -c "$client_deb" | awk '{print $6}' | sed 's|^\./|/|' > "$work/confab.files"
for pattern in \
    '^/usr/sbin/confabd$' \
    '^/usr/sbin/confab-passwd$' \
    '^(/usr)?/lib/systemd/system/confabd\.service$' \
    '^(/usr)?/lib/systemd/system/confabd\.socket$' \
    '^/usr/lib/sysusers\.d/confabd\.conf$' \
    '^/etc/confab/confabd\.toml$' \
    '^/usr/share/man/man8/confabd\.8\.gz$' \
    '^/usr/share/man/man8/confab-passwd\.8\.gz$' \
    '^/usr/share/man/man5/confabd\.toml\.5\.gz$' \
    '^/usr/share/doc/confabd/copyright$'
do
    grep -qE "$pattern" "$work/confabd.files" || fail "confabd .deb lacks $pattern"
done
for pattern in \
    '^/usr/bin/confab$' \
    '^/usr/share/man/man1/confab\.1\.gz$' \
    '^/usr/share/doc/confab/copyright$'
do
    grep -qE "$pattern" "$work/confab.files" || fail "confab .deb lacks $pattern"
done
if grep -qE '^/usr/bin/confab$' "$work/confabd.files"; then
    fail "client binary shipped in confabd"
fi
if grep -qE '^/etc/confab/users$' "$work/confabd.files"; then
    fail "the password file must not be shipped (created by postinst)"
fi

# Control area: conffiles and maintainer scripts.
rm -rf "$work/control"
dpkg-deb -e "$daemon_deb" "$work/control"
grep -qxF /etc/confab/confabd.toml "$work/control/conffiles" ||
    fail "conffiles does not list /etc/confab/confabd.toml"
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst does not create _confab"
grep -q 'deb-systemd-helper' "$work/control/postinst" || fail "postinst lacks the dh_installsystemd block"
grep -q 'rm -rf /var/lib/confab' "$work/control/postrm" || fail "postrm does not purge /var/lib/confab"
grep -q 'confabd.socket' "$work/control/postinst" &&
    grep -A3 'confabd.socket' "$work/control/postinst" | grep -q 'deb-systemd-invoke start' &&
    fail "confabd.socket must not be started by postinst"
dpkg-deb -f "$daemon_deb" Depends | grep -qw adduser ||
    fail "confabd does not depend on adduser (postinst calls it)"

# lintian: no errors (warnings are printed for information).
if command -v lintian >/dev/null 2>&1; then
    lintian --display-info --pedantic "$daemon_deb" "$client_deb" > "$work/lintian.txt" 2>&1
    cat "$work/lintian.txt"
    if grep -q '^E: ' "$work/lintian.txt"; then
        fail "lintian reported errors"
    fi
else
    echo "lintian not installed: skipped lintian check"
fi

[ "$status" -eq 0 ] && echo "deb checks passed"
exit "$status"
