package faults

import "github.com/faultline/faultline/cluster/local"

// The local cluster's drivers, in-process and over the control socket,
// carry out every fault that needs a driver capability.
var (
	_ EngineKiller   = (*local.Driver)(nil)
	_ EngineKiller   = (*local.Remote)(nil)
	_ UpgradeCrasher = (*local.Driver)(nil)
	_ UpgradeCrasher = (*local.Remote)(nil)
	_ ManagerKiller  = (*local.Driver)(nil)
	_ ManagerKiller  = (*local.Remote)(nil)
	_ NodePauser     = (*local.Driver)(nil)
	_ NodePauser     = (*local.Remote)(nil)
)
