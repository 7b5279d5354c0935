package instance_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestReplicaRevisionReported: the revision the API reports for a replica
// is the one its node holds (the head's xattr), which the engine's node
// advances when the engine starts, not the one the replica had when it
// was created.
func TestReplicaRevisionReported(t *testing.T) {
	cl := newCluster(t, 2)
	cl.createVolume("vol1", 2)
	cl.attach("vol1", "n1")
	cl.waitFor("API revisions equal the nodes'", 30*time.Second, func(ctx context.Context) (bool, string) {
		reps, err := cl.c.ListReplicas(ctx, "vol1")
		if err != nil || len(reps) != 2 {
			return false, fmt.Sprintf("replicas: %+v %v", reps, err)
		}
		for _, r := range reps {
			if onNode := cl.revision(r); r.Status.Revision != onNode || onNode == 0 {
				return false, fmt.Sprintf("replica %s: API revision %d, node holds %d", r.Name, r.Status.Revision, onNode)
			}
		}
		return true, ""
	})
}
