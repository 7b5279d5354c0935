// Package kind will run refengine on a kind (Kubernetes in Docker) cluster.
// It is not built yet; New says so, so that `--cluster kind` fails clearly
// instead of silently falling back to the local cluster.
package kind

import "errors"

// ErrNotBuilt is returned by New until the kind driver exists.
var ErrNotBuilt = errors.New("kind driver not built yet: use --cluster local")

// New returns ErrNotBuilt.
func New() error { return ErrNotBuilt }
