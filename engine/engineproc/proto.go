package engineproc

// Control methods served by an engine process on its JSON-RPC socket. The
// node's instance manager is the only caller.
const (
	MethodGet           = "engine_get"
	MethodReplicaAdd    = "engine_replica_add"
	MethodReplicaMode   = "engine_replica_set_mode"
	MethodReplicaRemove = "engine_replica_remove"
	MethodSuspend       = "engine_suspend"
	MethodResume        = "engine_resume"
	MethodFlush         = "engine_flush"
)

// ExportName is the name under which an engine process serves its raid on
// its internal NBD socket.
const ExportName = "engine"

// Replica names one member: the NBD export of a replica head.
type Replica struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Export  string `json:"export"`
}

// Info is the result of engine_get.
type Info struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Modes maps every replica the engine knows to RW, WO or ERR.
	Modes map[string]string `json:"modes"`
	// Errors holds why a replica is ERR.
	Errors    map[string]string `json:"errors,omitempty"`
	Suspended bool              `json:"suspended"`
	PID       int               `json:"pid"`
}

// ModeRequest sets a replica's mode (engine_replica_set_mode).
type ModeRequest struct {
	Name string `json:"name"`
	Mode string `json:"mode"`
}

// NameRequest names one replica (engine_replica_remove).
type NameRequest struct {
	Name string `json:"name"`
}
