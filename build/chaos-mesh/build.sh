#!/bin/bash
# Builds Chaos Mesh from source for hosts that reach no container registry: its controller-manager
# and daemon from the Go module proxy (github.com/chaos-mesh/chaos-mesh, which the proxy serves only
# at master pseudo-versions), their images (the controller FROM scratch, the daemon on a Debian
# root filesystem made with debootstrap and docker import, with iptables, ipset, tc, nsenter and
# stress-ng), and the Helm chart rendered with helm built from the same module graph. The chart
# makes its webhook and mTLS certificates when it is rendered, so the rendered manifest is kept
# with the images. Everything is keyed by its inputs (install.sh is not one); an unchanged key
# reuses all of it.
#   build.sh          build (or reuse); prints the two image names and the manifest path
#   build.sh --name   print them without building
# install.sh installs the result on a kind cluster; docs/kind.md "Chaos Mesh from source".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${CM_VERSION:=v0.9.1-0.20260902003049-47411975a8cb}" "${CM_API_VERSION:=v0.0.0-20260906172039-d70b66ad97ac}"
: "${HELM_VERSION:=v3.18.6}" "${OUT:=${FAULTLINE_CHAOS_MESH_CACHE:-/var/cache/faultline-chaos-mesh}}"
key=$( (echo "$CM_VERSION $CM_API_VERSION $HELM_VERSION"; cd "$here" && sha256sum build.sh nsexec libnsenter.c values.yaml) | sha256sum | cut -c1-12)
tag=${CM_VERSION##*-}-$key
cmimg=faultline/chaos-controller-manager:$tag daemonimg=faultline/chaos-daemon:$tag manifest=$OUT/chaos-mesh-$tag.yaml
if [ "${1:-}" = --name ] || { docker image inspect "$cmimg" "$daemonimg" >/dev/null 2>&1 && [ -s "$manifest" ]; }; then
	printf '%s\n' "$cmimg" "$daemonimg" "$manifest"; exit 0
fi
command -v debootstrap >/dev/null && command -v gcc >/dev/null || { echo "needs: apt-get install -y debootstrap gcc libc6-dev" >&2; exit 1; }
mkdir -p "$OUT/bin"
t() { local s=$(date +%s); "$@"; echo "chaos-mesh: $* ... $(($(date +%s) - s))s" >&2; }
export GOCACHE=$OUT/gocache GOFLAGS=-mod=mod
cmdir=$(go mod download -json "github.com/chaos-mesh/chaos-mesh@$CM_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
go mod download "github.com/chaos-mesh/chaos-mesh/api@$CM_API_VERSION"
# Wrapper module. chaos-mesh replaces ./api and the k8s.io modules; replaces only count in the main module, so
# copy them (./api -> the api module). The source is copied (writable) because TimeChaos embeds
# pkg/time/fakeclock/*.o, which the module zip lacks and -overlay may not add under GOMODCACHE.
# Keyed by the versions only: a change to these scripts does not copy the source again.
wrap=$OUT/wrap-$(echo "$CM_VERSION $CM_API_VERSION $HELM_VERSION" | sha256sum | cut -c1-12)
if [ ! -f "$wrap/go.mod" ]; then
	rm -rf "$wrap.tmp" && mkdir -p "$wrap.tmp" && cp -r "$cmdir" "$wrap.tmp/src" && chmod -R u+w "$wrap.tmp/src"
	for f in fake_clock_gettime fake_gettimeofday; do
		cc -c "$wrap.tmp/src/pkg/time/fakeclock/$f.c" -fPIE -O2 -o "$wrap.tmp/src/pkg/time/fakeclock/$f.o"
	done
	{
		printf 'module faultline.local/chaosmeshwrap\n\ngo 1.25.11\n\nrequire (\n\tgithub.com/chaos-mesh/chaos-mesh %s\n\thelm.sh/helm/v3 %s\n)\n\n' "$CM_VERSION" "$HELM_VERSION"
		printf 'replace github.com/chaos-mesh/chaos-mesh => ./src\n\n'
		awk -v api="$CM_API_VERSION" '
			/^replace \($/ {inblk = 1; print; next}
			inblk && /^\)$/ {inblk = 0; print; next}
			inblk { if ($3 == "./api") printf "\t%s => %s %s\n", $1, $1, api; else print; next }
			/^replace / {print}' "$cmdir/go.mod"
	} >"$wrap.tmp/go.mod"
	# The checksum database does not know github.com/chaos-mesh/fx-logr: take chaos-mesh's go.sum.
	cp "$cmdir/go.sum" "$wrap.tmp/go.sum" && chmod u+w "$wrap.tmp/go.sum"
	mv "$wrap.tmp" "$wrap"
fi
ld="-s -w -X github.com/chaos-mesh/chaos-mesh/pkg/version.gitVersion=$CM_VERSION"
cd "$wrap"
t env CGO_ENABLED=0 nice -n 15 go build -trimpath -ldflags "$ld" -o "$OUT/bin/chaos-controller-manager" github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager
t env CGO_ENABLED=1 nice -n 15 go build -trimpath -ldflags "$ld" -o "$OUT/bin/chaos-daemon" github.com/chaos-mesh/chaos-mesh/cmd/chaos-daemon
t env CGO_ENABLED=0 nice -n 15 go build -trimpath -ldflags "-s -w" -o "$OUT/bin/helm" helm.sh/helm/v3/cmd/helm
gcc -O2 -o "$OUT/bin/pause" src/hack/pause.c
gcc -O2 -shared -fPIC -o "$OUT/bin/libnsenter.so" "$here/libnsenter.c"
# Daemon root filesystem (kept between runs).
root=$OUT/rootfs
if [ ! -x "$root/usr/sbin/ipset" ]; then
	mirror=$({
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}'
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" {for (i = 2; i <= NF; i++) print $i}'
	} | grep -E '/debian/?$' | head -1)
	rm -rf "$root" "$root.tmp"
	t nice -n 15 debootstrap --variant=minbase \
		--include=iptables,ipset,iproute2,util-linux,procps,stress-ng,ca-certificates,tzdata,ebtables,net-tools,fuse3,bash \
		bookworm "$root.tmp" "$mirror" >"$OUT/debootstrap.log"
	rm -rf "$root.tmp"/var/lib/apt/lists/* "$root.tmp"/var/cache/apt/*.bin "$root.tmp"/var/cache/apt/archives/*.deb \
		"$root.tmp"/usr/share/doc/* "$root.tmp"/usr/share/man/* "$root.tmp"/usr/share/locale/* "$root.tmp"/usr/share/info/*
	mv "$root.tmp" "$root"
fi
export DOCKER_BUILDKIT=0
ctx=$OUT/ctx && rm -rf "$ctx" && mkdir -p "$ctx/cm/usr/local/bin" "$ctx/cm/tmp" "$ctx/cm/etc/ssl/certs" "$ctx/d/usr/local/bin" "$ctx/d/usr/local/lib"
cp "$OUT/bin/chaos-controller-manager" "$ctx/cm/usr/local/bin/" && chmod 1777 "$ctx/cm/tmp"
cp "$root/etc/ssl/certs/ca-certificates.crt" "$ctx/cm/etc/ssl/certs/"
printf 'FROM scratch\nCOPY . /\nENTRYPOINT ["/usr/local/bin/chaos-controller-manager"]\n' >"$ctx/cm.Dockerfile"
t docker build -q -f "$ctx/cm.Dockerfile" -t "$cmimg" "$ctx/cm" >/dev/null
base=faultline/chaos-daemon-base:$tag
t sh -c "tar -C '$root' -c . | docker import - '$base' >/dev/null"
cp "$OUT/bin/chaos-daemon" "$OUT/bin/pause" "$here/nsexec" "$ctx/d/usr/local/bin/" && cp "$OUT/bin/libnsenter.so" "$ctx/d/usr/local/lib/"
printf 'FROM %s\nCOPY . /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nENTRYPOINT ["/usr/local/bin/chaos-daemon"]\n' "$base" >"$ctx/d.Dockerfile"
t docker build -q -f "$ctx/d.Dockerfile" -t "$daemonimg" "$ctx/d" >/dev/null
docker rmi "$base" >/dev/null
# Manifests: the chart makes its webhook and mTLS certificates at render time (genCA), so render once per key.
# The api module the proxy serves is four days newer than chaos-mesh's: its NetworkChaos spec has
# partitionBehavior (defaulted to "drop" by the mutating webhook), which the chart's CRD does not
# declare. The API server would prune it, and the controller's own validating webhook would then
# refuse every update of a NetworkChaos ("Cannot update chaos spec"): declare it in a copy of the chart.
chart=$OUT/chart && rm -rf "$chart" && cp -r src/helm/chaos-mesh "$chart" && chmod -R u+w "$chart"
crd=$chart/crds/chaos-mesh.org_networkchaos.yaml
grep -q '^              partitionBehavior:' "$crd" || awk '
	/^              direction:$/ && !done {
		print "              partitionBehavior:"
		print "                default: drop"
		print "                description: PartitionBehavior defines how packets matched by a partition are handled."
		print "                enum:"
		print "                - drop"
		print "                - reject"
		print "                type: string"
		done = 1
	}
	{print}' "$crd" >"$crd.tmp" && mv "$crd.tmp" "$crd"
grep -q '^              partitionBehavior:' "$crd" || { echo "chaos-mesh: could not declare partitionBehavior in $crd" >&2; exit 1; }
HELM_CACHE_HOME=$OUT/helm HELM_CONFIG_HOME=$OUT/helm HELM_DATA_HOME=$OUT/helm "$OUT/bin/helm" template chaos-mesh "$chart" \
	--namespace chaos-mesh --include-crds -f "$here/values.yaml" --set images.tag="$tag" >"$manifest.tmp"
mv "$manifest.tmp" "$manifest"
printf '%s\n' "$cmimg" "$daemonimg" "$manifest"
