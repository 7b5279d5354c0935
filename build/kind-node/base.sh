#!/bin/bash
# Turns the debootstrap root filesystem into a kind base image: kind's own static files (its
# entrypoint, containerd and kubelet configuration, systemd units) from the kind module, the
# systemd setup steps of kind's base Dockerfile, and three adjustments this kind of host needs.
set -euo pipefail
: "${OUT:?OUT must name the build directory}" "${BASE_IMAGE:?BASE_IMAGE must name the image to build}"
: "${KIND_VERSION:=v0.33.0}"
root=$OUT/rootfs
kindsrc=$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/images/base/files
[ -d "$kindsrc" ] || { echo "base: kind $KIND_VERSION's images/base/files not found" >&2; exit 1; }

install -m 0755 "$kindsrc"/usr/local/bin/* "$root/usr/local/bin/"
# kind's entrypoint chooses the containerd snapshotter from the filesystem type of /kind. On a
# Docker that stores images on fuse-overlayfs that is "fuseblk", which selects a snapshotter only
# rootless setups ship. Snapshots live in /var/lib/containerd, on the node's /var volume, where
# plain overlayfs works: look there.
sed -i 's|container_filesystem="$(stat -f -c %T /kind)"|container_filesystem="$(stat -f -c %T /var/lib/containerd 2>/dev/null \|\| stat -f -c %T /kind)"|' \
	"$root/usr/local/bin/entrypoint"
grep -q 'stat -f -c %T /var/lib/containerd' "$root/usr/local/bin/entrypoint"
mkdir -p "$root/kind"
cp -r "$kindsrc/kind/." "$root/kind/"
chmod -R a+rX,u+w "$root/kind"
chmod 0755 "$root"/kind/bin/*
install -m 0644 "$kindsrc/etc/crictl.yaml" "$root/etc/"
install -m 0644 "$kindsrc"/etc/containerd/* "$root/etc/containerd/"
# Pod sandboxes ask for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, which some VMs'
# bounding sets lack. Clamp as kind does for rootless nodes.
sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$root/etc/containerd/config.toml"
install -m 0644 "$kindsrc"/etc/default/* "$root/etc/default/"
install -m 0644 "$kindsrc"/etc/sysctl.d/* "$root/etc/sysctl.d/"
for unit in "$kindsrc"/etc/systemd/system/*.service "$kindsrc"/etc/systemd/system/*.slice; do
	case $unit in *fuse-overlayfs*) continue ;; esac # its snapshotter binary is rootless-only
	install -m 0644 "$unit" "$root/etc/systemd/system/"
done
mkdir -p "$root/etc/systemd/system/kubelet.service.d"
install -m 0644 "$kindsrc"/etc/systemd/system/kubelet.service.d/* "$root/etc/systemd/system/kubelet.service.d/"
# Debian installs containerd under /usr/bin; kind's units expect /usr/local/bin.
ln -sf /usr/bin/containerd "$root/usr/local/bin/containerd"
ln -sf /usr/bin/containerd-shim-runc-v2 "$root/usr/local/bin/containerd-shim-runc-v2"
# Debian's containerd 1.6 ctr has no `ctr info` and no `images import --label`; kind's node-image
# builder uses both. The label pins images, a containerd 1.7 feature: dropping it loses nothing.
rm -f "$root/usr/local/bin/ctr"
cat >"$root/usr/local/bin/ctr" <<'SHIM'
#!/bin/bash
for a in "$@"; do
	case $a in -*) ;; info) exec /usr/bin/ctr version ;; *) break ;; esac
done
if [[ " $* " == *" import "* ]]; then
	args=()
	for a in "$@"; do [[ $a == --label=* ]] || args+=("$a"); done
	exec /usr/bin/ctr "${args[@]}"
fi
exec /usr/bin/ctr "$@"
SHIM
chmod 0755 "$root/usr/local/bin/ctr"
mkdir -p "$root/opt/cni/bin"
for p in host-local loopback ptp portmap bridge; do ln -sf "/usr/lib/cni/$p" "$root/opt/cni/bin/$p"; done
install -m 0755 "$OUT/bin/crictl" "$root/usr/local/bin/crictl"
# The RUN steps of kind's base image Dockerfile.
find "$root/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
rm -f "$root"/lib/systemd/system/multi-user.target.wants/* "$root"/etc/systemd/system/*.wants/* \
	"$root"/lib/systemd/system/local-fs.target.wants/* "$root"/lib/systemd/system/sockets.target.wants/*udev* \
	"$root"/lib/systemd/system/sockets.target.wants/*initctl* "$root"/lib/systemd/system/basic.target.wants/*
grep -q ReadKMsg=no "$root/etc/systemd/journald.conf" || echo ReadKMsg=no >>"$root/etc/systemd/journald.conf"
ln -sf /usr/lib/systemd/systemd "$root/sbin/init"
chroot "$root" systemctl enable kubelet.service containerd.service undo-mount-hacks.service
chroot "$root" systemctl mask systemd-binfmt.service
mkdir -p "$root/etc/kubernetes/manifests"
chroot "$root" ctr oci spec |
	chroot "$root" jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
	chroot "$root" jq 'del(.process.rlimits)' >"$root/etc/containerd/cri-base.json"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
	"$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

# docker import cannot set STOPSIGNAL on every Docker version: import, then add the metadata with a
# build FROM the imported image.
tar -C "$root" -c . | docker import - "$BASE_IMAGE-raw"
printf 'FROM %s\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\nENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]\n' "$BASE_IMAGE-raw" |
	DOCKER_BUILDKIT=0 docker build -q -t "$BASE_IMAGE" -
docker rmi "$BASE_IMAGE-raw" >/dev/null
