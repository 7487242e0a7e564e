#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only when some
# are missing.  Needs root for apt-get; a non-root user must have them already.
#   test/deps.sh            the packages for PostgreSQL $PG (default: 15)
#   test/deps.sh PKG...     these packages (e.g. debootstrap for test/chroot.sh)
set -euo pipefail
PG=${PG:-15}
if [ $# -gt 0 ]; then
	pkgs=("$@")
else
	pkgs=(postgresql-$PG postgresql-server-dev-$PG libsodium-dev libipc-run-perl pkg-config make gcc)
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# other apt runs on the machine: wait for the lock instead of failing
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold install -y -qq \
	--no-install-recommends "${missing[@]}" >/dev/null
