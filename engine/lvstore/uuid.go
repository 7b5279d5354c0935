package lvstore

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// uuid is an RFC 4122 identifier in binary form.
type uuid [16]byte

// newUUID returns a random (version 4) UUID.
func newUUID() (uuid, error) {
	var u uuid
	if _, err := rand.Read(u[:]); err != nil {
		return u, fmt.Errorf("generate uuid: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u, nil
}

func (u uuid) isZero() bool { return u == uuid{} }

// String returns the canonical 8-4-4-4-12 text form.
func (u uuid) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
