#!/bin/bash
# Says whether this host can run kind's privileged node containers. Docker asks runc for every
# capability on --privileged containers; a VM whose capability bounding set lacks one (CAP_SYS_RESOURCE
# here) makes that fail with "unable to apply caps". The fix (host-setup.sh) changes Docker's default
# runtime host-wide, so it is never applied silently: this script only reports. Exit 0: ready.
set -euo pipefail
bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
if [ "$bnd" = 000001ffffffffff ] || [ -z "$bnd" ]; then
	exit 0
fi
runtime=$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null || true)
if [ "$runtime" = runc-capfix ]; then
	exit 0
fi
cat >&2 <<MSG
kind cannot start privileged containers on this host: its capability bounding set is $bnd
(not the full 000001ffffffffff), and Docker's default runtime is "${runtime:-unknown}".
Run once, as root:   make kind-host-setup
It installs /usr/local/bin/runc-capfix (a runc wrapper that drops the capabilities this host cannot
grant) and makes it Docker's default runtime by editing /etc/docker/daemon.json and reloading dockerd
with SIGHUP (running containers are not restarted). Undo with:   make kind-host-restore
MSG
exit 1
