package backupstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// BlockSize is the unit of backup, dedup and restore (Longhorn's
// BACKUP_BLOCK_SIZE). Offsets in a block map are multiples of it; only the
// last block of a volume whose size is not a multiple is shorter.
const BlockSize = 2 << 20

// ZeroHash marks a block that is all zeros. It is the SHA-256 of BlockSize
// zero bytes, but it stands for "zeros over this block's extent" whatever
// that extent is, and no object is ever stored under it: restore writes
// zeros instead of fetching.
var ZeroHash = func() string {
	sum := sha256.Sum256(make([]byte, BlockSize))
	return hex.EncodeToString(sum[:])
}()

// nameRE bounds volume and backup names to what is safe as one path
// component on every target: Kubernetes-style names plus '.' and '_'.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// hashRE is a lower-case hex SHA-256.
var hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func validName(kind, name string) error {
	if !nameRE.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("invalid %s name %q", kind, name)
	}
	return nil
}

// volumeDir is volumes/<xx>/<yy>/<volume>/ where xx and yy are the first
// two bytes of sha256(volume name) in hex, as in Longhorn: it spreads
// volumes over 65536 directories so no directory of a file target grows
// too large and S3 listings stay partitioned.
func volumeDir(volume string) string {
	sum := sha256.Sum256([]byte(volume))
	h := hex.EncodeToString(sum[:2])
	return "volumes/" + h[0:2] + "/" + h[2:4] + "/" + volume + "/"
}

// blockKey is volumes/<xx>/<yy>/<volume>/blocks/<h[0:2]>/<h[2:4]>/<h>.blk.
func blockKey(volume, hash string) string {
	return volumeDir(volume) + "blocks/" + hash[0:2] + "/" + hash[2:4] + "/" + hash + ".blk"
}

// manifestKey is volumes/<xx>/<yy>/<volume>/backups/<backup>.json.
func manifestKey(volume, backup string) string {
	return volumeDir(volume) + "backups/" + backup + ".json"
}

// parseManifestKey returns the volume and backup of a key of the form
// manifestKey makes, and false for any other key.
func parseManifestKey(key string) (volume, backup string, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 6 || parts[0] != "volumes" || parts[4] != "backups" || !strings.HasSuffix(parts[5], ".json") {
		return "", "", false
	}
	volume, backup = parts[3], strings.TrimSuffix(parts[5], ".json")
	if validName("volume", volume) != nil || validName("backup", backup) != nil || manifestKey(volume, backup) != key {
		return "", "", false
	}
	return volume, backup, true
}

// parseBlockKey returns the hash of a key of the form blockKey makes.
func parseBlockKey(volume, key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, volumeDir(volume)+"blocks/")
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || !strings.HasSuffix(parts[2], ".blk") {
		return "", false
	}
	hash := strings.TrimSuffix(parts[2], ".blk")
	if !hashRE.MatchString(hash) || blockKey(volume, hash) != key {
		return "", false
	}
	return hash, true
}
