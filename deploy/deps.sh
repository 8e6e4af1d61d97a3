#!/bin/sh
# Installs the Debian packages Billow needs, only those missing:
# apt-get update once, then apt-get install, with sudo when not root.
set -eu
PKGS="build-essential pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
libpq-dev libev-dev libjson-c-dev libcurl4-openssl-dev libssl-dev libcmocka-dev
postgresql postgresql-client python3 python3-aiosmtpd procps iproute2 util-linux bc"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
