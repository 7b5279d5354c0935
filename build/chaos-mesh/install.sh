#!/bin/bash
# Installs Chaos Mesh, as build.sh made it, on kind cluster $CLUSTER (default faultline): loads the
# two images into the nodes, creates namespace chaos-mesh, applies the rendered manifest with the
# control plane node's own kubectl (server-side: the CRDs are up to 1.3 MB, too big for the
# annotation a client-side apply writes), points pod-failure at the pause image the nodes already
# hold, and waits until the controller and every daemon run.
#   install.sh CONTROLLER_IMAGE DAEMON_IMAGE MANIFEST   (the three lines build.sh prints)
set -euo pipefail
: "${CLUSTER:=faultline}"
[ $# -eq 3 ] || { echo "usage: install.sh CONTROLLER_IMAGE DAEMON_IMAGE MANIFEST" >&2; exit 2; }
cmimg=$1 daemonimg=$2 manifest=$3
cp=$CLUSTER-control-plane
docker inspect "$cp" >/dev/null 2>&1 || { echo "chaos-mesh: no kind cluster $CLUSTER (its node $cp is missing)" >&2; exit 1; }
kubectl() { docker exec -i "$cp" kubectl --kubeconfig /etc/kubernetes/admin.conf "$@"; }
kind load docker-image --name "$CLUSTER" "$cmimg" "$daemonimg"
kubectl create namespace chaos-mesh --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply --server-side --force-conflicts -f - <"$manifest" >/dev/null
# pod-failure swaps containers' images for a pause image; use the one every node already has.
pause=$(docker exec "$cp" sed -n 's/.*sandbox_image = "\(.*\)"/\1/p' /etc/containerd/config.toml | head -1)
if [ -n "$pause" ]; then
	kubectl -n chaos-mesh set env deployment/chaos-controller-manager POD_FAILURE_PAUSE_IMAGE="$pause" >/dev/null
fi
kubectl -n chaos-mesh rollout status deployment/chaos-controller-manager --timeout=5m
kubectl -n chaos-mesh rollout status daemonset/chaos-daemon --timeout=5m
# The webhooks (failurePolicy Fail) answer once the controller is ready: wait until a dry-run
# object is admitted.
for i in $(seq 60); do
	if kubectl -n chaos-mesh create --dry-run=server -f - >/dev/null 2>&1 <<'YAML'
apiVersion: chaos-mesh.org/v1alpha1
kind: PodChaos
metadata: {name: webhook-probe, namespace: chaos-mesh}
spec: {action: pod-kill, mode: one, selector: {namespaces: [chaos-mesh], labelSelectors: {app: none}}}
YAML
	then
		echo "chaos-mesh: installed on kind cluster $CLUSTER ($cmimg, $daemonimg)"
		exit 0
	fi
	sleep 2
done
echo "chaos-mesh: the admission webhooks did not answer within 2 min" >&2
exit 1
