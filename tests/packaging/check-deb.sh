#!/bin/sh
# Builds the Debian packages with packaging/build-deb and checks them: file
# list, conffiles, maintainer scripts, the TLS pair postinst creates (made
# with the packaged make-cert in a scratch directory, then checked by
# openssl and confabd --check-config) and lintian (no E: or W: tags).
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
    '^/usr/sbin/confabctl$' \
    '^(/usr)?/lib/systemd/system/confabd\.service$' \
    '^(/usr)?/lib/systemd/system/confabd\.socket$' \
    '^/usr/lib/sysusers\.d/confabd\.conf$' \
    '^/etc/confab/confabd\.toml$' \
    '^/usr/share/man/man8/confabd\.8\.gz$' \
    '^/usr/share/man/man8/confab-passwd\.8\.gz$' \
    '^/usr/share/man/man8/confabctl\.8\.gz$' \
    '^/usr/share/man/man5/confabd\.toml\.5\.gz$' \
    '^/usr/share/doc/confabd/copyright$' \
    '^/usr/share/doc/confabd/examples/certbot-deploy-hook$' \
    '^/usr/share/doc/confabd/examples/fail2ban/confabd\.conf$' \
    '^/usr/share/doc/confabd/examples/fail2ban/confabd\.local$' \
    '^/usr/share/confabd/make-cert$'
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
dpkg-deb -f "$daemon_deb" Depends | grep -qw openssl ||
    fail "confabd does not depend on openssl (make-cert calls it)"
# The TLS pair must exist before dh_installsystemd's snippet starts the unit.
cert_line=$(grep -n 'make-cert /etc/confab/tls _confab' "$work/control/postinst" | head -n 1 | cut -d: -f1)
start_line=$(grep -n 'deb-systemd-invoke' "$work/control/postinst" | head -n 1 | cut -d: -f1)
if [ -z "$cert_line" ]; then
    fail "postinst does not create the TLS pair (make-cert /etc/confab/tls _confab)"
elif [ -n "$start_line" ] && [ "$cert_line" -gt "$start_line" ]; then
    fail "postinst creates the TLS pair after starting the service"
fi
grep -q 'rm -f /etc/confab/tls/cert.pem /etc/confab/tls/key.pem' "$work/control/postrm" ||
    fail "postrm does not purge the TLS pair"

# The packaged config serves TLS with the pair postinst makes.
rm -rf "$work/root"
dpkg-deb -x "$daemon_deb" "$work/root"
conf="$work/root/etc/confab/confabd.toml"
grep -qx 'tls_cert = "/etc/confab/tls/cert.pem"' "$conf" || fail "packaged config does not set tls_cert"
grep -qx 'tls_key = "/etc/confab/tls/key.pem"' "$conf" || fail "packaged config does not set tls_key"

# make-cert as postinst runs it, against a scratch directory: modes, group,
# a P-256 key that matches its certificate, the host names, no replacement
# of an existing pair, and a configuration confabd accepts.
make_cert="$work/root/usr/share/confabd/make-cert"
tls="$work/tls"
group=$(id -gn)
rm -rf "$tls"
if [ ! -x "$make_cert" ]; then
    fail "make-cert is not executable in the package"
elif ! "$make_cert" "$tls" "$group" > "$work/make-cert.out"; then
    fail "make-cert failed"
else
    cat "$work/make-cert.out"
    [ "$(stat -c '%a %G' "$tls/key.pem")" = "640 $group" ] ||
        fail "key.pem is $(stat -c '%a %G' "$tls/key.pem"), expected 640 $group"
    [ "$(stat -c '%a' "$tls/cert.pem")" = 644 ] ||
        fail "cert.pem has mode $(stat -c '%a' "$tls/cert.pem"), expected 644"
    cert_pub=$(openssl x509 -noout -pubkey -in "$tls/cert.pem") || fail "cert.pem does not load"
    key_pub=$(openssl pkey -pubout -in "$tls/key.pem") || fail "key.pem does not load"
    if [ -z "$cert_pub" ] || [ "$cert_pub" != "$key_pub" ]; then
        fail "key.pem does not match cert.pem"
    fi
    text=$(openssl x509 -noout -text -in "$tls/cert.pem")
    printf '%s\n' "$text" | grep -q 'NIST CURVE: P-256' || fail "certificate key is not ECDSA P-256"
    printf '%s\n' "$text" | grep -q 'DNS:localhost' || fail "certificate lacks DNS:localhost"
    printf '%s\n' "$text" | grep -q 'IP Address:127.0.0.1' || fail "certificate lacks IP:127.0.0.1"
    fp=$(openssl x509 -noout -fingerprint -sha256 -in "$tls/cert.pem")
    grep -qF "confab --fingerprint SHA256:${fp#*=}" "$work/make-cert.out" ||
        fail "make-cert does not print the client command with the fingerprint"
    cp "$tls/cert.pem" "$work/cert.first"
    "$make_cert" "$tls" "$group" > "$work/make-cert.again" || fail "make-cert failed on an existing pair"
    cmp -s "$tls/cert.pem" "$work/cert.first" || fail "make-cert replaced an existing certificate"
    [ -s "$work/make-cert.again" ] && fail "make-cert printed something for an existing pair"
    : > "$work/tls-users"
    mkdir -p "$work/tls-state"
    if ! "$work/root/usr/sbin/confabd" --check-config -c "$conf" -u "$work/tls-users" \
        --state-dir "$work/tls-state" --set "tls_cert=$tls/cert.pem" --set "tls_key=$tls/key.pem" \
        > "$work/check-config.out" 2>&1; then
        cat "$work/check-config.out" >&2
        fail "confabd --check-config rejects the packaged config with the generated pair"
    fi
fi

# lintian: no errors, no warnings (info and pedantic tags are printed only).
if command -v lintian >/dev/null 2>&1; then
    lintian --display-info --pedantic "$daemon_deb" "$client_deb" > "$work/lintian.txt" 2>&1
    cat "$work/lintian.txt"
    if grep -qE '^(E|W): ' "$work/lintian.txt"; then
        fail "lintian reported errors or warnings"
    fi
else
    echo "lintian not installed: skipped lintian check"
fi

[ "$status" -eq 0 ] && echo "deb checks passed"
exit "$status"
