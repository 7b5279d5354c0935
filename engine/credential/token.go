package credential

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Size is a token's length in bytes (its file holds twice as many hex
// digits).
const Size = 32

// ErrEmpty is returned by Token methods on the zero Token: a caller without
// a credential cannot prove anything.
var ErrEmpty = errors.New("no cluster credential")

// Token is the cluster secret. The zero Token means "none configured".
type Token struct {
	key []byte
}

// Generate returns a new random token.
func Generate() (Token, error) {
	key := make([]byte, Size)
	if _, err := rand.Read(key); err != nil {
		return Token{}, fmt.Errorf("generate cluster credential: %w", err)
	}
	return Token{key: key}, nil
}

// Parse reads a token from its text form: Size*2 hex digits, surrounding
// white space ignored.
func Parse(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if len(s) != 2*Size {
		return Token{}, fmt.Errorf("cluster credential: want %d hex digits, got %d characters", 2*Size, len(s))
	}
	key, err := hex.DecodeString(s)
	if err != nil {
		return Token{}, fmt.Errorf("cluster credential: %w", err)
	}
	return Token{key: key}, nil
}

// Load reads a token file. A file that others than its owner may read is
// refused: the token opens every node of the cluster.
func Load(path string) (Token, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Token{}, fmt.Errorf("cluster credential: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 && !allowShared(path) {
		return Token{}, fmt.Errorf("cluster credential %s: mode %v lets others read it; want 0600 (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Token{}, fmt.Errorf("cluster credential: %w", err)
	}
	t, err := Parse(string(b))
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// allowShared reports whether a token file may be group- or world-readable:
// Kubernetes mounts Secret files through a symlink into a ..data directory
// with the mode the pod asked for, and only root reads inside the pod.
func allowShared(path string) bool {
	target, err := filepath.EvalSymlinks(path)
	return err == nil && strings.Contains(target, "/..")
}

// WriteFile stores the token at path with mode 0600, durably. It creates
// the file; an existing file is an error (see LoadOrCreate).
func (t Token) WriteFile(path string) error {
	if t.IsZero() {
		return ErrEmpty
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write cluster credential: %w", err)
	}
	if _, err := f.WriteString(t.String() + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write cluster credential: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write cluster credential: %w", err)
	}
	return f.Close()
}

// LoadOrCreate loads the token at path, or generates and writes one when
// the file does not exist, so that a cluster restarted on the same
// directory keeps its credential.
func LoadOrCreate(path string) (Token, error) {
	t, err := Load(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return t, err
	}
	if t, err = Generate(); err != nil {
		return Token{}, err
	}
	if err := t.WriteFile(path); err != nil {
		return Token{}, err
	}
	return t, nil
}

// IsZero reports whether no token is configured.
func (t Token) IsZero() bool { return len(t.key) == 0 }

// String is the token's text form, as Parse reads it. Do not log it.
func (t Token) String() string { return hex.EncodeToString(t.key) }

// Equal compares two tokens in constant time.
func (t Token) Equal(o Token) bool {
	return !t.IsZero() && subtle.ConstantTimeCompare(t.key, o.key) == 1
}

// EqualString compares the token with a text form in constant time; the
// zero token equals nothing.
func (t Token) EqualString(s string) bool {
	o, err := Parse(s)
	return err == nil && t.Equal(o)
}

// MAC is the hex HMAC-SHA256 of msg under the token, in a domain named by
// purpose, so that a MAC made for one use is worthless for another.
func (t Token) MAC(purpose, msg string) string {
	h := hmac.New(sha256.New, t.key)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

// CheckMAC reports, in constant time, whether mac is MAC(purpose, msg).
// The zero token accepts nothing.
func (t Token) CheckMAC(purpose, msg, mac string) bool {
	if t.IsZero() {
		return false
	}
	return hmac.Equal([]byte(t.MAC(purpose, msg)), []byte(mac))
}

// ExportKey is the key that opens the NBD export called name: an engine or
// rebuild peer holding the token computes it, the node serving the export
// checks it. 32 hex digits (128 bits).
func (t Token) ExportKey(name string) string {
	return t.MAC("nbd-export", name)[:32]
}

// AdminAPIToken is the bearer token for the manager's REST API that a
// holder of the cluster secret uses as an administrator (the framework,
// `faultline cluster env`). It is derived, so a token seen on the wire
// does not open the nodes' JSON-RPC.
func (t Token) AdminAPIToken() string { return t.MAC("rest-api", "admin") }

// NodeAPIToken is the bearer token a node sends to the manager's REST API
// (heartbeats): derived from the node's name, so the manager knows which
// node is calling and a node cannot speak for another.
func (t Token) NodeAPIToken(node string) string { return t.MAC("rest-api-node", node) }
