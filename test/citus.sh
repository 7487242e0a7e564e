#!/usr/bin/env bash
# Builds Citus from the vendored release tarball against the PostgreSQL 15
# the harness uses, once: the result is cached outside the repository, keyed
# by the tarball's checksum and the server's version, so later runs only
# copy it.  Citus itself never enters the repository.
#
#   bash test/citus.sh [DESTDIR]   build (if needed), then install the
#                                  cached files under DESTDIR (e.g. $INST)
#
# The one compatibility edit: PostgreSQL 15.20 exports have_createdb_privilege(),
# which Citus also defines as a static fallback in pg_version_compat.h; when
# the server's commands/dbcommands.h declares it, the fallback is renamed so
# that Citus's callers use the server's function.
#
# Environment: CITUS_TARBALL (default: shared/vendor/citus-13.2.2.tar.gz in
# the repository's parent directory or the nearest ancestor that has one, so
# that a clone made elsewhere, e.g. CI's clean clone, still finds it; then
# /work/shared/vendor), CITUS_CACHE (default /var/cache/privacy-test).  Exit status 3 means "no
# tarball here" so callers can skip the suite rather than fail.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGSYS=${PGSYS:-/usr/lib/postgresql/15}
PG_CONFIG=$PGSYS/bin/pg_config
find_tarball() {
	local d=$TOP f=shared/vendor/citus-13.2.2.tar.gz
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		[ -f "$d/$f" ] && { echo "$d/$f"; return; }
	done
	[ -f "/work/$f" ] && { echo "/work/$f"; return; }
	echo "$TOP/../$f"
}
TARBALL=${CITUS_TARBALL:-$(find_tarball)}
CACHE=${CITUS_CACHE:-/var/cache/privacy-test}
# a user who cannot write there caches in their own cache directory
if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/privacy-test
fi
DEST=${1:-}

if [ ! -f "$TARBALL" ]; then
	echo "citus: no tarball at $TARBALL" >&2
	exit 3
fi

# build dependencies: configure demands lz4 and zstd, the server headers
# include gssapi (krb5); libcurl is configured out
deps=(liblz4-dev libzstd-dev libkrb5-dev)
missing=()
for p in "${deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "citus: missing packages: ${missing[*]}" >&2
		exit 1
	fi
	echo "citus: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

sum=$(sha256sum "$TARBALL" | cut -c1-16)
pgver=$($PG_CONFIG --version | awk '{print $2}')
name=$(basename "$TARBALL" .tar.gz)
KEY="$CACHE/$name-pg$pgver-$sum"
mkdir -p "$CACHE"

# one builder at a time; the others wait and then use its result
exec 9>"$CACHE/.lock-citus"
flock 9
if [ ! -f "$KEY/.done" ]; then
	rm -rf "$KEY" "$KEY.build"
	mkdir -p "$KEY.build"
	start=$(date +%s)
	tar -xzf "$TARBALL" -C "$KEY.build"
	src=$(echo "$KEY.build"/citus-*)
	compat="$src/src/include/pg_version_compat.h"
	if grep -q 'have_createdb_privilege' "$($PG_CONFIG --includedir-server)/commands/dbcommands.h"; then
		# the static fallback would clash with the server's extern declaration
		sed -i 's/^have_createdb_privilege(void)$/citus_compat_unused_have_createdb_privilege(void)/' "$compat"
		grep -q citus_compat_unused_have_createdb_privilege "$compat" || {
			echo "citus: compatibility edit did not apply" >&2; exit 1; }
	fi
	(
		cd "$src"
		./configure --without-libcurl PG_CONFIG=$PG_CONFIG >"$KEY.build/configure.log" 2>&1
		make -j"$(nproc)" with_llvm=no >"$KEY.build/make.log" 2>&1
		make install with_llvm=no DESTDIR="$KEY" >"$KEY.build/install.log" 2>&1
	) || { echo "citus: build failed, see $KEY.build/*.log" >&2; grep -h -m5 -B2 -E "error|Error" "$KEY.build"/make.log "$KEY.build"/configure.log >&2; exit 1; }
	echo "citus: built $name for PostgreSQL $pgver in $(( $(date +%s) - start ))s"
	rm -rf "$KEY.build"
	touch "$KEY/.done"
fi
flock -u 9

if [ -n "$DEST" ]; then
	cp -a "$KEY/usr" "$DEST/"
fi
