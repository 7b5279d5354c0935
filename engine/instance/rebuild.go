package instance

import (
	"context"
	"errors"

	"github.com/faultline/faultline/engine/improto"
)

// addReplica joins a replica to a running engine and rebuilds it.
func (m *Manager) addReplica(ctx context.Context, name string, r improto.EngineReplica) error {
	return errors.New("replica rebuild is not implemented yet")
}
