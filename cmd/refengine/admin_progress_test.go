package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"
)

// terminalBuffer is a bytes.Buffer that says it is a terminal, so that
// runAdmin shows progress on it as it would to a person.
type terminalBuffer struct{ bytes.Buffer }

func (*terminalBuffer) IsTerminal() bool { return true }

// TestProgressOnlyOnATerminal: a waiting verb prints its progress when
// stdout and stderr are terminals and the output is a table, and nothing
// but the result otherwise.
func TestProgressOnlyOnATerminal(t *testing.T) {
	// A volume that becomes healthy on the third look, with one replica
	// rebuilding before.
	var looks atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/volumes/vol1", func(w http.ResponseWriter, r *http.Request) {
		rob := "degraded"
		if looks.Add(1) >= 3 {
			rob = "healthy"
		}
		json.NewEncoder(w).Encode(map[string]any{"name": "vol1", "status": map[string]any{"state": "attached", "robustness": rob}})
	})
	mux.HandleFunc("GET /v1/replicas", func(w http.ResponseWriter, r *http.Request) {
		mode := "WO"
		if looks.Load() >= 3 {
			mode = "RW"
		}
		json.NewEncoder(w).Encode([]map[string]any{{"name": "vol1-r-1", "spec": map[string]any{"node": "n2"}, "status": map[string]any{"mode": mode}}})
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no event stream", http.StatusNotFound) // WaitVolume polls
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name         string
		stdout       io.Writer
		stderr       io.Writer
		output       string
		wantProgress bool
	}{
		{"terminal", &terminalBuffer{}, &terminalBuffer{}, "table", true},
		{"json on a terminal", &terminalBuffer{}, &terminalBuffer{}, "json", false},
		{"stderr to a file", &terminalBuffer{}, &bytes.Buffer{}, "table", false},
		{"stdout to a pipe", &bytes.Buffer{}, &terminalBuffer{}, "table", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			looks.Store(0)
			args := []string{"wait", "vol1", "--robustness", "healthy", "--manager", srv.URL, "--timeout", "10s", "--output", tt.output}
			code := runAdmin("volume", volumeVerbs(), args, tt.stdout, tt.stderr)
			stderr := tt.stderr.(interface{ String() string }).String()
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			want := "volume vol1: attached, degraded\n  replica vol1-r-1 on n2: WO (rebuilding)\nvolume vol1: attached, healthy\n  replica vol1-r-1 on n2: RW\n"
			if tt.wantProgress && stderr != want {
				t.Errorf("stderr:\n%s\nwant\n%s", stderr, want)
			}
			if !tt.wantProgress && stderr != "" {
				t.Errorf("stderr: %q, want nothing", stderr)
			}
			if out := tt.stdout.(interface{ String() string }).String(); !strings.Contains(out, "vol1") {
				t.Errorf("stdout lacks the volume: %q", out)
			}
		})
	}
}

// TestUploadProgress: an upload reports how much of the file went out.
func TestUploadProgress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		json.NewEncoder(w).Encode(map[string]any{"name": "img", "status": map[string]any{"size": n}})
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "img.raw")
	if err := os.WriteFile(file, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, terminal := range []bool{true, false} {
		var out, errb bytes.Buffer
		var stdout, stderr io.Writer = &out, &errb
		if terminal {
			stdout, stderr = &terminalBuffer{}, &terminalBuffer{}
		}
		code := runAdmin("backing-image", backingImageVerbs(), []string{"upload", "img", "--file", file, "--manager", srv.URL}, stdout, stderr)
		got := stderr.(interface{ String() string }).String()
		if code != 0 {
			t.Fatalf("exit %d: %s", code, got)
		}
		if want := "upload img: 100% (3.0 of 3.0 MiB"; terminal != strings.Contains(got, want) {
			t.Errorf("terminal %t: stderr %q; want progress %q only on a terminal", terminal, got, want)
		}
	}
}

// progressFor is what a waiting verb prints to a terminal's stderr: every
// line with table output, only its own error lines (refengine ...) with
// JSON, where progress stays quiet.
func progressFor(output string, lines []string) []string {
	if output != "json" {
		return lines
	}
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "refengine ") {
			out = append(out, l)
		}
	}
	return out
}

// TestIsTerminal: a pseudo-terminal is one; a pipe and a file are not.
func TestIsTerminal(t *testing.T) {
	pts := openPTY(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name string
		w    io.Writer
		want bool
	}{
		{"pty", pts, true},
		{"pipe", w, false},
		{"file", file, false},
		{"buffer", &bytes.Buffer{}, false},
	} {
		if got := isTerminal(tc.w); got != tc.want {
			t.Errorf("isTerminal(%s) = %t, want %t", tc.name, got, tc.want)
		}
	}
}

// openPTY opens a pseudo-terminal pair and returns its terminal end.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Skipf("unlock pty: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Skipf("pty number: %v", errno)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pty: %v", err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts
}
