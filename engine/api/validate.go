package api

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Size and count bounds enforced on every volume.
const (
	MiB              = int64(1) << 20
	MinVolumeSize    = MiB
	MaxVolumeSize    = int64(64) << 40 // 64 TiB
	MinReplicaCount  = 1
	MaxReplicaCount  = 16
	DefaultReplicas  = 3
	MaxNameLength    = 63
	MaxDisksPerNode  = 64
	MaxAddressLength = 256
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidateName checks a resource name: lower-case letters, digits and
// dashes, starting with a letter or digit, at most 63 characters.
func ValidateName(kind, name string) error {
	if name == "" {
		return Invalid("%s name is required", kind)
	}
	if !nameRE.MatchString(name) {
		return Invalid("%s name %q is invalid: want ^[a-z0-9][a-z0-9-]{0,62}$", kind, truncate(name))
	}
	return nil
}

// ValidateSize checks a volume size: positive, a multiple of 1 MiB, at most
// MaxVolumeSize.
func ValidateSize(size int64) error {
	switch {
	case size < MinVolumeSize:
		return Invalid("size %d is too small: want at least %d bytes (1 MiB)", size, MinVolumeSize)
	case size > MaxVolumeSize:
		return Invalid("size %d is too large: want at most %d bytes (64 TiB)", size, MaxVolumeSize)
	case size%MiB != 0:
		return Invalid("size %d is not a multiple of 1 MiB (%d bytes)", size, MiB)
	}
	return nil
}

// ValidateReplicaCount checks numberOfReplicas.
func ValidateReplicaCount(n int) error {
	if n < MinReplicaCount || n > MaxReplicaCount {
		return Invalid("numberOfReplicas %d is out of range: want %d..%d", n, MinReplicaCount, MaxReplicaCount)
	}
	return nil
}

// Normalize fills defaults into a create request: 3 replicas, NBD
// frontend, the default backup target.
func (r *VolumeCreateRequest) Normalize() {
	if r.NumberOfReplicas == 0 {
		r.NumberOfReplicas = DefaultReplicas
	}
	// A volume from a backup goes on the target the backup URL names,
	// which the manager looks up by URL.
	if r.BackupTargetName == "" && r.FromBackup == "" {
		r.BackupTargetName = DefaultBackupTarget
	}
	// A DR volume has no frontend until it is activated.
	if r.Frontend == "" && !r.Standby {
		r.Frontend = FrontendNBD
	}
}

// Validate checks a (normalized) create request on its own; references to
// backing and engine images and to the backup target are checked by the
// manager against its store.
func (r *VolumeCreateRequest) Validate() error {
	if err := ValidateName(KindVolume, r.Name); err != nil {
		return err
	}
	// A volume from a backup may leave the size to the backup.
	if r.Size != 0 || r.FromBackup == "" {
		if err := ValidateSize(r.Size); err != nil {
			return err
		}
	}
	if err := ValidateReplicaCount(r.NumberOfReplicas); err != nil {
		return err
	}
	if r.FromBackup != "" {
		if _, _, _, err := ParseBackupURL(r.FromBackup); err != nil {
			return Invalid("fromBackup: %v", err)
		}
	}
	switch {
	case r.Standby && r.FromBackup == "":
		return Invalid("standby needs fromBackup: a DR volume follows a backup volume")
	case r.Standby && r.Frontend != "":
		return Invalid("a standby volume has no frontend until it is activated: leave frontend empty, not %q", truncate(r.Frontend))
	case !r.Standby && r.Frontend != FrontendNBD:
		return Invalid("frontend %q is not supported: want %q", truncate(r.Frontend), FrontendNBD)
	}
	if r.BackingImage != "" && r.FromBackup != "" {
		return Invalid("a volume restored from a backup cannot also have a backing image")
	}
	if r.BackupTargetName == "" {
		return nil // looked up from fromBackup's URL
	}
	if r.BackingImage != "" {
		if err := ValidateName(KindBackingImage, r.BackingImage); err != nil {
			return err
		}
	}
	if r.EngineImage != "" {
		if err := ValidateName(KindEngineImage, r.EngineImage); err != nil {
			return err
		}
	}
	return ValidateName(KindBackupTarget, r.BackupTargetName)
}

// Validate checks a heartbeat body.
func (r *HeartbeatRequest) Validate() error {
	for _, f := range []struct{ field, v string }{{"address", r.Address}, {"rpcAddress", r.RPCAddress}, {"nbdAddress", r.NBDAddress}} {
		field, v := f.field, f.v
		if v == "" {
			return Invalid("heartbeat: %s is required", field)
		}
		if len(v) > MaxAddressLength {
			return Invalid("heartbeat: %s is longer than %d bytes", field, MaxAddressLength)
		}
	}
	if len(r.Disks) > MaxDisksPerNode {
		return Invalid("heartbeat: %d disks, at most %d allowed", len(r.Disks), MaxDisksPerNode)
	}
	seen := map[string]bool{}
	for _, d := range r.Disks {
		if err := ValidateName("disk", d.Name); err != nil {
			return err
		}
		if seen[d.Name] {
			return Invalid("heartbeat: disk %q listed twice", d.Name)
		}
		seen[d.Name] = true
		if d.TotalBytes < 0 || d.FreeBytes < 0 || d.FreeBytes > d.TotalBytes {
			return Invalid("heartbeat: disk %q has inconsistent sizes total=%d free=%d", d.Name, d.TotalBytes, d.FreeBytes)
		}
		if len(d.LvstoreUUID) > MaxAddressLength || len(d.LvstoreName) > MaxAddressLength {
			return Invalid("heartbeat: disk %q lvstore identifiers are too long", d.Name)
		}
	}
	return nil
}

// Validate checks an engine image registration.
func (r *EngineImageCreateRequest) Validate() error {
	if err := ValidateName(KindEngineImage, r.Name); err != nil {
		return err
	}
	if r.Version == "" || len(r.Version) > MaxNameLength {
		return Invalid("engine image version must be 1..%d characters", MaxNameLength)
	}
	if !filepath.IsAbs(r.BinaryPath) {
		return Invalid("engine image binaryPath %q must be an absolute path", truncate(r.BinaryPath))
	}
	return nil
}

// Validate checks a backing image creation request.
func (r *BackingImageCreateRequest) Validate() error {
	if err := ValidateName(KindBackingImage, r.Name); err != nil {
		return err
	}
	if !filepath.IsAbs(r.SourcePath) {
		return Invalid("backing image sourcePath %q must be an absolute path", truncate(r.SourcePath))
	}
	return ValidateSHA512(r.SHA512, true)
}

// ValidateSHA512 checks a hex SHA-512 digest (128 lower-case hex digits).
func ValidateSHA512(s string, optional bool) error {
	if s == "" && optional {
		return nil
	}
	if len(s) != 128 || strings.Trim(s, "0123456789abcdef") != "" {
		return Invalid("sha512 %q is not 128 lower-case hex digits", truncate(s))
	}
	return nil
}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewReplicaName returns "<volume>-r-<8 random lower-case alnum>".
func NewReplicaName(volume string) string {
	b := make([]byte, 8)
	rand.Read(b) // crypto/rand.Read never fails
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return volume + "-r-" + string(b)
}

// EngineName returns "<volume>-e-<ordinal>".
func EngineName(volume string, ordinal int) string {
	return fmt.Sprintf("%s-e-%d", volume, ordinal)
}

// SnapshotResourceName returns the store name of a volume's snapshot.
func SnapshotResourceName(volume, snapshot string) string {
	return volume + "-s-" + snapshot
}

// truncate keeps error messages bounded when echoing user input.
func truncate(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

var refRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,127}$`)

// ValidateRef checks the name of a derived resource (replica, engine,
// snapshot), which may be longer than a user-chosen name because it embeds
// the volume name.
func ValidateRef(kind, name string) error {
	if !refRE.MatchString(name) {
		return Invalid("%s name %q is invalid: want ^[a-z0-9][a-z0-9-]{0,127}$", kind, truncate(name))
	}
	return nil
}
