package engineproc

import (
	"context"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/engine/bdev/malloc"
	"github.com/faultline/faultline/engine/nbd"
)

// protectedReplicas serves n malloc devices of 4 MiB as protected exports
// with bitmaps, each with a key of its own, and returns their descriptions
// with the keys filled in.
func protectedReplicas(t *testing.T, n int) []Replica {
	t.Helper()
	srv := nbd.NewServer(nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); srv.Close(); <-done })
	var reps []Replica
	for i := range n {
		name := string(rune('a' + i))
		r := Replica{Name: name, Address: l.Addr().String(), Export: name, Bitmap: name + "-bitmap",
			Key: strings.Repeat(name, 32), BitmapKey: strings.Repeat(name, 16) + strings.Repeat("0", 16)}
		for _, x := range []struct {
			export, key string
			size        uint64
		}{{r.Export, r.Key, 8192}, {r.Bitmap, r.BitmapKey, 128}} {
			d, err := malloc.New(x.size, 512)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.AddExport(x.export, d, nbd.ExportOptions{Key: x.key}); err != nil {
				t.Fatal(err)
			}
		}
		reps = append(reps, r)
	}
	return reps
}

func TestEngineProtectedReplicas(t *testing.T) {
	reps := protectedReplicas(t, 3)
	ctx := context.Background()
	noKey := reps[1]
	noKey.Key = ""
	wrongBitmapKey := reps[2]
	wrongBitmapKey.BitmapKey = reps[0].BitmapKey
	e, err := New(ctx, Config{Name: "e", Size: 4 << 20, Replicas: []Replica{reps[0], noKey, wrongBitmapKey}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctl, _ := serve(t, e)
	info := waitState(t, ctl, StateReady)
	if info.Modes["a"] != "RW" || info.Modes["b"] != "ERR" || info.Modes["c"] != "ERR" {
		t.Fatalf("modes %v, want a RW and the replicas opened without their keys ERR", info.Modes)
	}
	for _, name := range []string{"b", "c"} {
		if !strings.Contains(info.Errors[name], "only its engine and rebuild peers may open it") {
			t.Errorf("replica %s: error %q does not say it was refused", name, info.Errors[name])
		}
	}
	for name, msg := range info.Errors {
		for _, r := range reps {
			if strings.Contains(msg, r.Key) || strings.Contains(msg, r.BitmapKey) {
				t.Errorf("replica %s error shows a key: %s", name, msg)
			}
		}
	}
	// engine_replica_add carries the keys over the control socket.
	if err := ctl.Call(ctx, MethodReplicaRemove, NameRequest{Name: "c"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Call(ctx, MethodReplicaAdd, wrongBitmapKey, nil); err == nil {
		t.Fatal("replica added with a wrong bitmap key")
	}
	if err := ctl.Call(ctx, MethodReplicaAdd, reps[2], nil); err != nil {
		t.Fatalf("add with the keys: %v", err)
	}
}

func TestKeysEnv(t *testing.T) {
	reps := []Replica{
		{Name: "a", Address: "x:1", Export: "a", Bitmap: "a-bitmap", Key: "ka", BitmapKey: "kab"},
		{Name: "b", Address: "x:1", Export: "b", Bitmap: "b-bitmap"},
	}
	v, err := KeysJSON(reps)
	if err != nil {
		t.Fatal(err)
	}
	bare := []Replica{reps[0], reps[1]}
	bare[0].Key, bare[0].BitmapKey = "", ""
	got, err := WithKeys(bare, v)
	if err != nil || !reflect.DeepEqual(got, reps) {
		t.Fatalf("WithKeys(KeysJSON) = %+v, %v; want %+v", got, err, reps)
	}
	if v, err := KeysJSON(bare); v != "" || err != nil {
		t.Errorf("KeysJSON without keys = %q, %v; want empty", v, err)
	}
	if _, err := WithKeys(bare, `{"a":"k`); err == nil || strings.Contains(err.Error(), `"k`) {
		t.Errorf("WithKeys of a broken value: %v", err)
	}
}
