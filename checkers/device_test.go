package checkers

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// eofReader returns io.EOF together with the last bytes, as io.ReaderAt
// allows.
type eofReader struct{ *bytes.Reader }

func (r eofReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.Reader.ReadAt(p, off)
	if err == nil && off+int64(n) == r.Size() {
		err = io.EOF
	}
	return n, err
}

func TestReadFull(t *testing.T) {
	dev := eofReader{bytes.NewReader([]byte("0123456789"))}
	tests := []struct {
		off, n int
		want   string
		short  bool
	}{
		{0, 4, "0123", false},
		{6, 4, "6789", false}, // full buffer with io.EOF
		{8, 4, "", true},
		{12, 1, "", true},
	}
	for _, tc := range tests {
		p := make([]byte, tc.n)
		err := ReadFull(dev, p, int64(tc.off))
		if tc.short {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("ReadFull(%d, %d) = %v, want io.ErrUnexpectedEOF", tc.off, tc.n, err)
			}
			continue
		}
		if err != nil || string(p) != tc.want {
			t.Errorf("ReadFull(%d, %d) = %q, %v; want %q", tc.off, tc.n, p, err, tc.want)
		}
	}
}
