#!/bin/bash
# Builds the node image's other static binaries from Go modules: crictl, CoreDNS, etcd, and the
# project's own small programs in tools/ (pause, podnet, runc-capfix).
set -euo pipefail
: "${OUT:?OUT must name the build directory}"
here=$(cd "$(dirname "$0")" && pwd)
: "${ETCD_VERSION:=v3.6.5}" "${COREDNS_VERSION:=v1.12.1}" "${CRICTL_VERSION:=v1.34.0}"
export GOCACHE=$OUT/gocache CGO_ENABLED=0 GOFLAGS=-mod=mod
bin=$OUT/bin
mkdir -p "$bin"
step() {
	local name=$1
	shift
	[ -x "$bin/$name" ] && return 0
	local start=$(date +%s)
	nice -n 10 "$@"
	echo "built $name in $(($(date +%s) - start))s"
}
step crictl env GOBIN="$bin" go install -trimpath \
	-ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
	"sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
step coredns env GOBIN="$bin" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
# etcd's server module has ../ replace directives, so it builds through a wrapper module.
mkdir -p "$OUT/etcd-wrap"
printf 'module faultline.local/etcdwrap\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$OUT/etcd-wrap/go.mod"
step etcd sh -c "cd '$OUT/etcd-wrap' && go build -trimpath -ldflags '-s -w' -o '$bin/etcd' go.etcd.io/etcd/server/v3"
# The project's own tools are rebuilt every time (the Go cache makes that cheap), so edits show.
for t in pause podnet runc-capfix; do
	rm -f "$bin/$t"
	step "$t" sh -c "cd '$here/tools' && go build -trimpath -ldflags '-s -w' -o '$bin/$t' ./$t"
done
