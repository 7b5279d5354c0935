package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:9500", "ftp://host", "http://", "://x"} {
		if _, err := New(u, nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if _, err := New("http://127.0.0.1:9500/", nil); err != nil {
		t.Fatal(err)
	}
}

// Errors come back as *api.Error, whether the server sent a JSON error or
// something else (a proxy's HTML page, say).
func TestErrorDecoding(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/volumes/json":
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"code":409,"message":"volume is busy"}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>bad gateway</html>"))
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetVolume(context.Background(), "json")
	if !api.IsCode(err, 409) || err.(*api.Error).Message != "volume is busy" {
		t.Fatalf("JSON error: %v", err)
	}
	_, err = c.GetVolume(context.Background(), "html")
	if !api.IsCode(err, 502) || err.(*api.Error).Message != "<html>bad gateway</html>" {
		t.Fatalf("non-JSON error: %v", err)
	}
}
