// Package crcref holds bit-by-bit reference implementations of the
// checksums refengine computes, for tests to compare with: independent of
// the table-driven code under test.
package crcref

// CRC64ISORefl is CRC-64/ISO reflected (poly 0xD800000000000000, init and
// xorout all ones), chained through seed: the function Longhorn's SPDK fork
// uses for snapshot checksums (lib/util/crc64.c, spdk_crc64_iso_refl).
func CRC64ISORefl(seed uint64, p []byte) uint64 {
	crc := ^seed
	for _, b := range p {
		crc ^= uint64(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xD800000000000000
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}
