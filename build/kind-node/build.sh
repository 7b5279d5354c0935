#!/bin/bash
# Builds a kind node image for Kubernetes $KV from Debian packages and Go modules only, for hosts
# that reach no container registry. The image is tagged by a key of its inputs (these scripts, the
# tools' sources and the versions), so a changed input builds a new image and an unchanged one is
# reused. Intermediate outputs (Go build cache, binaries, root filesystem) stay in $OUT between runs.
#
#   build.sh            build (or reuse) the image; prints its name last
#   build.sh --name     print the image name for the current inputs, build nothing
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export KV=${KV:-v1.34.4} KIND_VERSION=${KIND_VERSION:-v0.33.0}
export OUT=${OUT:-${FAULTLINE_KIND_CACHE:-/var/cache/faultline-kind}}
key=$( (
	echo "$KV $KIND_VERSION"
	cd "$here" && find . -type f \( -name '*.sh' -o -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) ! -name '*_test.go' | sort | xargs sha256sum
) | sha256sum | cut -c1-12)
image=faultline/kind-node:$KV-$key
if [ "${1:-}" = --name ]; then
	echo "$image"
	exit 0
fi
if docker image inspect "$image" >/dev/null 2>&1; then
	echo "$image"
	exit 0
fi
bash "$here/hostcheck.sh"
command -v debootstrap >/dev/null && command -v jq >/dev/null || {
	echo "needs debootstrap and jq: apt-get install -y debootstrap jq" >&2
	exit 1
}
mkdir -p "$OUT"
step() {
	local name=$1
	shift
	local start=$(date +%s)
	if ! "$@" >"$OUT/$name.log" 2>&1; then
		echo "kind node image: step $name failed (log: $OUT/$name.log):" >&2
		tail -20 "$OUT/$name.log" >&2
		return 1
	fi
	echo "kind node image: $name $(($(date +%s) - start))s" >&2
}
echo "kind node image $image: building in $OUT (first build: about 20-40 min of Go compiles)" >&2
pids=()
[ -x "$OUT/rootfs/usr/bin/containerd" ] || { step rootfs bash "$here/rootfs.sh" & pids+=($!); }
step k8s bash "$here/k8s.sh" & pids+=($!)
step extras bash "$here/extras.sh" & pids+=($!)
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ $failed = 0 ] || exit 1
base=faultline/kind-base:$KV-$key
step base env BASE_IMAGE="$base" bash "$here/base.sh"
step images bash "$here/images.sh"
kind=${KIND:-$(command -v kind || echo "$(go env GOPATH)/bin/kind")}
if [ ! -x "$kind" ]; then
	step kind-install go install "sigs.k8s.io/kind@$KIND_VERSION"
	kind=$(go env GOPATH)/bin/kind
fi
step node-image "$kind" build node-image --type file "$OUT/kubernetes-server-linux-amd64.tar.gz" \
	--base-image "$base" --image "$image"
docker rmi "$base" >/dev/null 2>&1 || true
echo "$image"
