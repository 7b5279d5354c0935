package crcref

import "testing"

// TestCRC64ISORefl: the catalogue check value of CRC-64/GO-ISO, and
// chaining through the seed.
func TestCRC64ISORefl(t *testing.T) {
	if got := CRC64ISORefl(0, []byte("123456789")); got != 0xb90956c775a41001 {
		t.Errorf("check value %#x, want 0xb90956c775a41001", got)
	}
	if whole, parts := CRC64ISORefl(0, []byte("123456789")), CRC64ISORefl(CRC64ISORefl(0, []byte("1234")), []byte("56789")); whole != parts {
		t.Errorf("chained %#x, whole %#x", parts, whole)
	}
}
