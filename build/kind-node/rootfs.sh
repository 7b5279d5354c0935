#!/bin/bash
# Builds the node's root filesystem from Debian bookworm packages with debootstrap, using the
# Debian mirror apt is configured with (never a hard-coded host).
set -euo pipefail
: "${OUT:?OUT must name the build directory}"
root=$OUT/rootfs
rm -rf "$root" "$root.tmp"
pkgs=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod
pkgs+=,libseccomp2,pigz,e2fsprogs,bash,ca-certificates,curl,jq,procps,containerd,runc,socat,ebtables
pkgs+=,containernetworking-plugins
mirror=$({
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}'
	cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" {for (i = 2; i <= NF; i++) print $i}'
} | grep -E '/debian/?$' | head -1)
[ -n "$mirror" ] || { echo "rootfs: no Debian mirror in apt's sources" >&2; exit 1; }
nice -n 10 debootstrap --variant=minbase --include="$pkgs" bookworm "$root.tmp" "$mirror"
mv "$root.tmp" "$root"
