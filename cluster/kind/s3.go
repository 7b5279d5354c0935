package kind

import (
	"context"
	"fmt"

	"github.com/faultline/faultline/cluster"
)

var _ cluster.S3Endpoints = (*Driver)(nil)

// StartS3Endpoint is not supported on kind yet: an S3 server tied to a node
// would have to run in that node's container (a pod pinned to it, or a
// process beside the kubelet) so that a node stop takes it down, and none is
// deployed. It returns an error wrapping cluster.ErrNotSupported, which
// scenarios turn into a skip with this reason.
// (The default file:// backup target works on kind: a directory of the host
// that kind mounts into every node, as an NFS export would be.)
func (d *Driver) StartS3Endpoint(ctx context.Context, name, node string) (cluster.S3Endpoint, error) {
	return cluster.S3Endpoint{}, fmt.Errorf("S3 endpoint %s: %w: the kind driver deploys no S3 server (use --cluster local)", name, cluster.ErrNotSupported)
}
