package engineproc

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/faultline/faultline/engine/raid1"
)

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
	// MethodActivate turns a standby engine's write-intent log on
	// (ActivateRequest); MethodDeactivate turns it off before another
	// engine takes the replicas over.
	MethodActivate   = "engine_activate"
	MethodDeactivate = "engine_deactivate"
)

// Engine states (Info.State).
const (
	// StateActivating: the engine is bringing its replicas in line (a
	// resync after a crash) and serves no I/O yet.
	StateActivating = "activating"
	// StateStandby: started for a live upgrade; it takes no writes until
	// activated.
	StateStandby = "standby"
	// StateReady: serving.
	StateReady = "ready"
)

// DefectNoResyncAfterCrash re-introduces the divergence outside testing
// found: an engine started after a crash trusts its replicas as they are.
const DefectNoResyncAfterCrash = "no-resync-after-crash"

// ExportName is the name under which an engine process serves its raid on
// its internal NBD socket.
const ExportName = "engine"

// Replica names one member: the NBD export of a replica head, and the
// export of its write-intent bitmap. Either every replica of an engine has
// a bitmap or none has.
type Replica struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Export  string `json:"export"`
	Bitmap  string `json:"bitmap,omitempty"`
	// Key and BitmapKey are the access keys of Export and Bitmap when
	// their node protects them (nbd.ExportOptions.Key). They reach the
	// engine through engine_replica_add on the control socket or through
	// KeysEnv at start, never on its command line, and are never logged.
	Key       string `json:"key,omitempty"`
	BitmapKey string `json:"bitmap_key,omitempty"`
}

// KeysEnv names the environment variable through which a node hands the
// engine process it starts the access keys of the replicas it names with
// --replica: a JSON object from export name to key (KeysJSON). A flag
// would do, but every user may read a process's command line
// (/proc/PID/cmdline), while its environment is its owner's.
const KeysEnv = "REFENGINE_EXPORT_KEYS"

// KeysJSON is the KeysEnv value for reps: the keys of their exports and
// bitmaps, or "" when none has one.
func KeysJSON(reps []Replica) (string, error) {
	keys := map[string]string{}
	for _, r := range reps {
		if r.Key != "" {
			keys[r.Export] = r.Key
		}
		if r.Bitmap != "" && r.BitmapKey != "" {
			keys[r.Bitmap] = r.BitmapKey
		}
	}
	if len(keys) == 0 {
		return "", nil
	}
	b, err := json.Marshal(keys)
	if err != nil {
		return "", fmt.Errorf("encode export keys: %w", err)
	}
	return string(b), nil
}

// WithKeys fills in the keys of reps from a KeysEnv value; an export it
// does not name stays without a key (its node leaves it open).
func WithKeys(reps []Replica, keysJSON string) ([]Replica, error) {
	if keysJSON == "" {
		return reps, nil
	}
	var keys map[string]string
	if err := json.Unmarshal([]byte(keysJSON), &keys); err != nil {
		// The value may hold keys: say what is wrong, not what it holds.
		return nil, fmt.Errorf("$%s: not a JSON object of export names to keys", KeysEnv)
	}
	out := slices.Clone(reps)
	for i := range out {
		out[i].Key = keys[out[i].Export]
		if out[i].Bitmap != "" {
			out[i].BitmapKey = keys[out[i].Bitmap]
		}
	}
	return out, nil
}

// ActivateRequest is the parameter of engine_activate: Mode "handover"
// (the engine that served the replicas before was flushed and stopped
// writing) or "crash" (it may have died mid-write).
type ActivateRequest struct {
	Mode string `json:"mode"`
}

// Activation modes.
const (
	ModeHandover = "handover"
	ModeCrash    = "crash"
)

// Progress is how far an activation's resync got, in regions.
type Progress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
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
	// State is activating, standby or ready.
	State string `json:"state"`
	// Progress of the resync while activating.
	Progress Progress `json:"progress"`
	// Resync is what the last activation found and did.
	Resync *raid1.ResyncStats `json:"resync,omitempty"`
	// Intent describes the write-intent log (dirty regions, events) and
	// counts writes refused because no replica had room.
	Intent raid1.IntentInfo `json:"intent"`
	// Error is why activation failed, if it did.
	Error string `json:"error,omitempty"`
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
