#!/bin/sh
# Install the Debian packages cbpscan needs to build, test and benchmark.
# Idempotent: installs only what is missing; needs root (or sudo) only then.
set -eu
PKGS="build-essential pkg-config file clang libclang-rt-14-dev mandoc
libmagic-dev libarchive-dev libpcre2-dev libcurl4-openssl-dev libssl-dev libjansson-dev
libfyaml-dev libjpeg62-turbo-dev libspng-dev libsqlite3-dev zlib1g-dev libisal-dev libcmocka-dev libseccomp-dev
libtiff-dev libopenjp2-7-dev libgif-dev libwebp-dev libjpeg-turbo-progs
python3-pytest python3-pil util-linux
zip unzip p7zip-full cpio xz-utils zstd lz4 bzip2 genisoimage openssl bc"
# The benchmark also compares against yara.
[ "${1:-}" = "--bench" ] && PKGS="$PKGS yara"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
