#!/bin/bash
# Makes runc-capfix Docker's default runtime (host-wide; see hostcheck.sh for why), or with
# "restore" puts /etc/docker/daemon.json back as it was. dockerd reloads "runtimes" and
# "default-runtime" on SIGHUP, so no container is restarted.
set -euo pipefail
: "${OUT:?OUT must name the build directory}"
here=$(cd "$(dirname "$0")" && pwd)
conf=/etc/docker/daemon.json saved=$OUT/daemon.json.orig
reload() {
	kill -HUP "$(pidof dockerd)"
	for _ in $(seq 50); do
		[ "$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" = "$1" ] && return 0
		sleep 0.2
	done
	echo "dockerd did not switch its default runtime to $1" >&2
	return 1
}
if [ "${1:-}" = restore ]; then
	[ -f "$saved" ] || { echo "nothing to restore: $saved does not exist" >&2; exit 1; }
	# A reload applies only keys that are present: name runc explicitly, then restore the file.
	jq '. + {"default-runtime": "runc"}' "$saved" >"$conf"
	reload runc
	cp "$saved" "$conf"
	echo "Docker's default runtime is runc again; $conf restored"
	exit 0
fi
mkdir -p "$OUT/bin"
(cd "$here/tools" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$OUT/bin/runc-capfix" ./runc-capfix)
install -m 0755 "$OUT/bin/runc-capfix" /usr/local/bin/runc-capfix
[ -f "$conf" ] || echo '{}' >"$conf"
[ -f "$saved" ] || cp "$conf" "$saved"
jq '. + {"runtimes": ((.runtimes // {}) + {"runc-capfix": {"path": "/usr/local/bin/runc-capfix"}}), "default-runtime": "runc-capfix"}' \
	"$saved" >"$conf"
reload runc-capfix
echo "Docker's default runtime is now runc-capfix (undo: make kind-host-restore)"
