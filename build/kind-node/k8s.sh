#!/bin/bash
# Builds the static Kubernetes server binaries (kubeadm, kubelet, kubectl and the control-plane
# commands) for version $KV from the Go module proxy. k8s.io/kubernetes replaces its staging
# modules with ./staging paths, so it is built through a wrapper module that points each staging
# module at its published v0.x release instead.
set -euo pipefail
: "${OUT:?OUT must name the build directory}"
KV=${KV:-v1.34.4}
staging=v0.${KV#v1.}
wrap=$OUT/k8s-wrap
mkdir -p "$wrap" "$OUT/bin/k8s"
export GOCACHE=$OUT/gocache GOFLAGS=-mod=mod CGO_ENABLED=0
cd "$wrap"
src=$(go mod download -json "k8s.io/kubernetes@$KV" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
{
	printf 'module faultline.local/k8swrap\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KV"
	awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\/src\// {printf "\t%s => %s %s\n", $1, $1, v}' "$src/go.mod"
	printf ')\n'
} >go.mod
minor=$(echo "$KV" | cut -d. -f2)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$KV -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
	ldflags+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.buildDate=2026-01-01T00:00:00Z"
done
for cmd in kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
	[ -x "$OUT/bin/k8s/$cmd" ] && continue
	start=$(date +%s)
	nice -n 10 go build -trimpath -tags providerless,dockerless -ldflags "$ldflags" \
		-o "$OUT/bin/k8s/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
	mv "$OUT/bin/k8s/$cmd.tmp" "$OUT/bin/k8s/$cmd"
	echo "built $cmd in $(($(date +%s) - start))s"
done
