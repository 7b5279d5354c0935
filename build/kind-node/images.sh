#!/bin/bash
# Builds the images a kind node must hold because nothing can be pulled (control plane, etcd,
# CoreDNS, kube-proxy, pause, the pod network daemon, and the images of kind's default storage
# class), all FROM scratch around the binaries built before, and packs them with kubeadm, kubelet
# and kubectl into the kubernetes-server tarball layout that `kind build node-image --type file`
# reads.
set -euo pipefail
: "${OUT:?OUT must name the build directory}"
: "${KV:=v1.34.4}" "${KIND_VERSION:=v0.33.0}" "${ETCD_TAG:=3.6.5-0}" "${COREDNS_TAG:=v1.12.1}"
root=$OUT/rootfs bin=$OUT/bin ctx=$OUT/image-ctx
kindsrc=$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/pkg/build/nodeimage
const() { sed -n "s/^const $1 = \"\(.*\)\"/\1/p" "$kindsrc/$2"; }
podnet_image=$(const kindnetdImage const_cni.go)
provisioner_image=$(const storageProvisionerImage const_storage.go)
helper_image=$(const storageHelperImage const_storage.go)
pause_image=$(sed -n 's/.*sandbox_image = "\(.*\)"/\1/p' "$root/etc/containerd/config.toml")
for v in podnet_image provisioner_image helper_image pause_image; do
	[ -n "${!v}" ] || { echo "images: cannot read $v from kind $KIND_VERSION" >&2; exit 1; }
done
rm -rf "$ctx"
mkdir -p "$ctx"
export DOCKER_BUILDKIT=0

# single NAME SRC DST ENTRYPOINT TAG...: an image holding one binary.
single() {
	local name=$1 src=$2 dst=$3 entry=$4
	shift 4
	mkdir -p "$ctx/$name$(dirname "$dst")"
	cp "$src" "$ctx/$name$dst"
	{
		echo "FROM scratch"
		echo "COPY . /"
		echo "ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
		[ "$entry" = - ] || echo "ENTRYPOINT [\"$entry\"]"
	} >"$ctx/$name/Dockerfile"
	local tags=()
	for t in "$@"; do tags+=(-t "$t"); done
	docker build -q "${tags[@]}" "$ctx/$name" >/dev/null
}
for c in kube-apiserver kube-controller-manager kube-scheduler; do
	single "$c" "$bin/k8s/$c" "/usr/local/bin/$c" - "registry.k8s.io/$c:$KV"
done
single etcd "$bin/etcd" /usr/local/bin/etcd - "registry.k8s.io/etcd:$ETCD_TAG"
single coredns "$bin/coredns" /coredns /coredns "registry.k8s.io/coredns/coredns:$COREDNS_TAG"
single pause "$bin/pause" /pause /pause "$pause_image" registry.k8s.io/pause:3.10.1
single podnet "$bin/podnet" /bin/kindnetd /bin/kindnetd "$podnet_image"
# refengine keeps its data on hostPath, not PVCs, so kind's default storage class is not served:
# its provisioner and helper images are placeholders that only hold the pod open.
single provisioner "$bin/pause" /usr/local/bin/local-path-provisioner /usr/local/bin/local-path-provisioner "$provisioner_image"
single helper "$bin/pause" /pause /pause "$helper_image"

# kube-proxy programs iptables (nft backend, as the node) and conntrack: copy those binaries and
# the libraries ldd names out of the Debian root filesystem.
proxy=$ctx/kube-proxy
mkdir -p "$proxy/usr/local/bin" "$proxy/usr/sbin" "$proxy/etc" "$proxy/run"
cp "$bin/k8s/kube-proxy" "$proxy/usr/local/bin/"
tools="/usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/sbin/conntrack /usr/sbin/nft"
plugins=$(cd "$root" && ls usr/lib/x86_64-linux-gnu/xtables/*.so | sed 's|^|/|')
libs=$(for f in $tools $plugins; do chroot "$root" ldd "$f" | grep -o '/[^ ]*'; done | sort -u)
for f in $tools $libs; do
	mkdir -p "$proxy$(dirname "$f")"
	chroot "$root" cat "$f" >"$proxy$f"
	chmod 0755 "$proxy$f"
done
mkdir -p "$proxy/usr/lib/x86_64-linux-gnu"
cp -a "$root/usr/lib/x86_64-linux-gnu/xtables" "$proxy/usr/lib/x86_64-linux-gnu/"
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
	ln -sf xtables-nft-multi "$proxy/usr/sbin/$t"
	ln -sf xtables-nft-multi "$proxy/usr/sbin/${t/tables/tables-nft}"
	ln -sf xtables-legacy-multi "$proxy/usr/sbin/${t/tables/tables-legacy}"
done
cp "$root/etc/protocols" "$root/etc/services" "$proxy/etc/" 2>/dev/null || true
printf 'FROM scratch\nCOPY . /\nENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' >"$proxy/Dockerfile"
docker build -q -t "registry.k8s.io/kube-proxy:$KV" "$proxy" >/dev/null

# The kubernetes-server tarball.
tb=$OUT/tarball
rm -rf "$tb"
mkdir -p "$tb/kubernetes/server/bin"
echo "$KV" >"$tb/kubernetes/version"
cp "$bin/k8s/kubeadm" "$bin/k8s/kubelet" "$bin/k8s/kubectl" "$tb/kubernetes/server/bin/"
for c in kube-apiserver kube-controller-manager kube-scheduler; do
	docker save -o "$tb/kubernetes/server/bin/$c.tar" "registry.k8s.io/$c:$KV"
done
# kind side-loads only the four control-plane archives. Everything else rides in kube-proxy.tar,
# a multi-image archive. kind reads an archive's tags from whichever of "repositories" and
# "manifest.json" comes first, and from manifest.json only the first image's: so "repositories"
# goes first. docker save drops the "docker.io/" prefix that kind compares against: put it back.
docker save -o "$tb/proxy.tar" "registry.k8s.io/kube-proxy:$KV" "registry.k8s.io/etcd:$ETCD_TAG" \
	"registry.k8s.io/coredns/coredns:$COREDNS_TAG" "$pause_image" registry.k8s.io/pause:3.10.1 \
	"$podnet_image" "$provisioner_image" "$helper_image"
mkdir -p "$tb/px"
tar -C "$tb/px" -xf "$tb/proxy.tar"
rm "$tb/proxy.tar"
fq='def fq: if (split("/")[0] | test("[.:]")) then . else "docker.io/" + . end;'
jq -c "$fq"' [.[] | .RepoTags |= map(fq)]' "$tb/px/manifest.json" >"$tb/px/m" && mv "$tb/px/m" "$tb/px/manifest.json"
jq -c "$fq"' with_entries(.key |= fq)' "$tb/px/repositories" >"$tb/px/r" && mv "$tb/px/r" "$tb/px/repositories"
(cd "$tb/px" && tar -cf "$tb/kubernetes/server/bin/kube-proxy.tar" repositories manifest.json $(ls | grep -vx 'repositories\|manifest.json'))
rm -rf "$tb/px"
tar -C "$tb" -czf "$OUT/kubernetes-server-linux-amd64.tar.gz" kubernetes
