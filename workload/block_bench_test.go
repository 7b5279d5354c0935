package workload

import "testing"

func BenchmarkEncode4K(b *testing.B) {
	buf := make([]byte, DefaultBlock)
	b.SetBytes(DefaultBlock)
	for i := range b.N {
		if err := Encode(buf, Header{Volume: "bench", Offset: 4096, WriteID: uint64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode4K(b *testing.B) {
	buf := make([]byte, DefaultBlock)
	if err := Encode(buf, Header{Volume: "bench", Offset: 4096, WriteID: 1}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(DefaultBlock)
	for range b.N {
		if _, err := DecodeAt(buf, "bench", 4096); err != nil {
			b.Fatal(err)
		}
	}
}
