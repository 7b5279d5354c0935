package nbd

import (
	"crypto/subtle"
	"fmt"
	"strings"
)

// keySuffix separates an export's name from its access key in the name a
// client sends (NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_EXPORT_NAME). The
// protocol has no field for a key, and carrying it in the name lets any
// client that can name an export (nbdinfo, qemu) present one.
const keySuffix = "?key="

// wireName is the export name a client sends to open export with key; an
// empty key sends the bare name. Callers pass the key to Dial apart, so no
// code outside this package handles a string that holds both.
func wireName(export, key string) string {
	if key == "" {
		return export
	}
	return export + keySuffix + key
}

// splitWireName splits a wire name into the export name and the key it
// carries; keyed is false when it carries none.
func splitWireName(wire string) (name, key string, keyed bool) {
	i := strings.LastIndex(wire, keySuffix)
	if i < 0 {
		return wire, "", false
	}
	return wire[:i], wire[i+len(keySuffix):], true
}

// keyMatches compares a presented key with an export's in constant time
// (the length of the export's key is not secret: every key has the same).
func keyMatches(want, got string) bool {
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// lookupResult is what a client's wire name designates.
type lookupResult struct {
	e *export // nil when no export has the name
	// name is the export name without any key, safe to log and to echo.
	name string
	// keyed reports whether the client presented a key.
	keyed bool
	// allowed reports whether the client may open e: it is open, or the
	// key presented is its key.
	allowed bool
}

// refusal is the message of NBD_REP_ERR_POLICY for a protected export
// opened without its key.
func refusal(name string) string {
	return fmt.Sprintf("export %q is a replica export: only its engine and rebuild peers may open it (no or wrong access key)", name)
}
