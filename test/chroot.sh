#!/usr/bin/env bash
# Runs the test suites of one PostgreSQL major that the host's Debian release
# does not ship, in a Debian chroot that ships it (17: trixie, 18: sid).
#
#   test/chroot.sh create MAJOR      make the chroot once (cached) and print its path
#   test/chroot.sh test MAJOR        copy a fresh tree in and run `make test PG=MAJOR` there
#   test/chroot.sh shell MAJOR CMD   run CMD (bash -c) in the chroot
#
# The chroots live outside the repository, in $PRIVACY_CHROOT_CACHE
# (/var/cache/privacy-test by default), made with debootstrap from the Debian
# mirror this machine's apt configuration names (read at run time).  A chroot
# is moved into place only once complete, so an interrupted creation leaves
# nothing behind.  Each run gets its own private mount namespace (proc, dev),
# which disappears with it.  Needs root.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${PRIVACY_CHROOT_CACHE:-/var/cache/privacy-test}

suite_of() {
	case "$1" in
	17) echo trixie ;;
	18) echo sid ;;
	*) echo "no Debian suite ships PostgreSQL $1 (supported here: 17, 18)" >&2; return 1 ;;
	esac
}

# The Debian archive of this machine's apt sources (deb822 or one-line style).
debian_mirror() {
	local uris
	uris=$({
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; break } }'
	} | grep -E '/debian/?$' | head -n 1)
	[ -n "$uris" ] || { echo "no Debian archive in this machine's apt sources" >&2; return 1; }
	echo "${uris%/}"
}

# run "$@" inside chroot $1 with /proc and /dev mounted in a private namespace
in_chroot() {
	local dir=$1; shift
	unshare --mount --propagation private -- bash -c '
		dir=$1; shift
		mount -t proc proc "$dir/proc"
		mount --rbind /dev "$dir/dev"
		exec chroot "$dir" env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			TERM=dumb CI="${CI:-}" PRIVACY_ACCEPT="${PRIVACY_ACCEPT:-}" PRIVACY_KEEP="${PRIVACY_KEEP:-}" "$@"' _ "$dir" "$@"
}

create() {
	local major=$1 suite dir tmp mirror t0
	suite=$(suite_of "$major")
	dir=$CACHE/chroot-$suite
	if [ -e "$dir/.privacy-ready" ]; then echo "$dir"; return; fi
	[ "$(id -u)" -eq 0 ] || { echo "creating a chroot needs root" >&2; return 1; }
	command -v debootstrap >/dev/null || bash "$TOP/test/deps.sh" debootstrap >&2
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock-$suite"
	flock 9
	if [ -e "$dir/.privacy-ready" ]; then echo "$dir"; return; fi
	mirror=$(debian_mirror)
	tmp=$dir.partial
	rm -rf "$tmp"
	t0=$(date +%s)
	echo "creating the $suite chroot for PostgreSQL $major in $dir (once)" >&2
	unshare --mount --propagation private -- \
		debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$CACHE/debootstrap-$suite.log" 2>&1 ||
		{ tail -n 20 "$CACHE/debootstrap-$suite.log" >&2; return 1; }
	echo "deb $mirror $suite main" > "$tmp/etc/apt/sources.list"
	# the sid index of a snapshot may be past its Valid-Until date
	echo 'Acquire::Check-Valid-Until "false";' > "$tmp/etc/apt/apt.conf.d/99privacy-test"
	# no service starts in the chroot, no cluster made by the packages
	printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"; chmod 755 "$tmp/usr/sbin/policy-rc.d"
	mkdir -p "$tmp/etc/postgresql-common"
	echo 'create_main_cluster = false' > "$tmp/etc/postgresql-common/createcluster.conf"
	cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null || true
	cp "$TOP/test/deps.sh" "$tmp/tmp/deps.sh"
	in_chroot "$tmp" env PG="$major" bash /tmp/deps.sh >&2
	in_chroot "$tmp" apt-get clean >&2
	echo "$major" > "$tmp/.privacy-ready"
	mv "$tmp" "$dir"
	echo "chroot $suite ready in $(( $(date +%s) - t0 )) s" >&2
	echo "$dir"
}

# A fresh copy of the working tree (tracked and new files, no build products)
# under /build/<pid> in the chroot, then `make test PG=major` as root there.
run_test() {
	local major=$1 dir b
	dir=$(create "$major")
	b=/build/$$
	cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
	rm -rf "$dir$b"; mkdir -p "$dir$b/privacy"
	if git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$TOP" && git ls-files -z --cached --others --exclude-standard |
			xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' _ |
			tar --null -T - -cf -) | tar -xf - -C "$dir$b/privacy"
	else
		(cd "$TOP" && tar --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude='privacy--*.sql' -cf - .) |
			tar -xf - -C "$dir$b/privacy"
	fi
	# a dump of the major-upgrade test made outside (test/major.sh)
	local major_in=
	if [ -n "${PRIVACY_MAJOR_IN:-}" ] && [ -d "$PRIVACY_MAJOR_IN" ]; then
		cp -a "$PRIVACY_MAJOR_IN" "$dir$b/major"
		chmod -R a+rX "$dir$b/major"
		major_in=$b/major
	fi
	local rc=0
	in_chroot "$dir" env PRIVACY_MAJOR_IN="$major_in" make -C "$b/privacy" test PG="$major" || rc=$?
	rm -rf "${dir:?}$b"
	return $rc
}

case "${1:-}" in
create) create "$2" ;;
test) run_test "$2" ;;
shell) dir=$(create "$2"); shift 2; in_chroot "$dir" bash -c "$*" ;;
*) echo "usage: $0 create|test|shell MAJOR [command]" >&2; exit 2 ;;
esac
