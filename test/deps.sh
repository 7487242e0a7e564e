#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only when some
# are missing.  Needs root for apt-get; a non-root user must have them already.
set -euo pipefail
pkgs=(postgresql-15 postgresql-server-dev-15 libsodium-dev libipc-run-perl pkg-config make gcc)
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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
