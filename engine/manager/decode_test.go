package manager

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/engine/api"
)

// TestStrictDecodingRejects sends malformed bodies to the REST API: each is
// a 400 that names the problem and the field, and none changes the store.
func TestStrictDecodingRejects(t *testing.T) {
	tm := startManager(t, t.TempDir(), Config{})
	waitTargetSynced(t, tm, api.DefaultBackupTarget)
	base, err := tm.m.store.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	const vol = `"name":"v","size":1048576`
	tests := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"key in upper case", "POST", "/v1/volumes", `{"name":"v","SIZE":1048576}`, 400, `unknown field SIZE (field names are case-sensitive: did you mean "size"?)`},
		{"key in title case", "POST", "/v1/volumes", `{"Name":"v","size":1048576}`, 400, `unknown field Name`},
		{"duplicate key", "POST", "/v1/volumes", `{` + vol + `,"size":2097152}`, 400, "duplicate field size"},
		{"duplicate key differing in case", "POST", "/v1/volumes", `{` + vol + `,"Size":2097152}`, 400, "unknown field Size"},
		{"duplicate nested key", "PUT", "/v1/nodes/n1/heartbeat", `{"address":"a","rpcAddress":"b","nbdAddress":"c","disks":[{"name":"d","name":"e"}]}`, 400, "duplicate field disks[0].name"},
		{"unknown nested field", "PUT", "/v1/nodes/n1/heartbeat", `{"address":"a","rpcAddress":"b","nbdAddress":"c","disks":[{"name":"d","colour":"red"}]}`, 400, "unknown field disks[0].colour"},
		{"nested key case", "POST", "/v1/backuptargets", `{"name":"t","url":"s3://b@r/x","credential":{"AccessKey":"a"}}`, 400, "unknown field credential.AccessKey"},
		{"duplicate map key", "POST", "/v1/backups", `{"volume":"v","labels":{"a":"1","a":"2"}}`, 400, "duplicate field labels.a"},
		{"explicit zero replicas", "POST", "/v1/volumes", `{` + vol + `,"numberOfReplicas":0}`, 400, "field numberOfReplicas: explicit 0"},
		{"explicit zero replicas as float", "POST", "/v1/volumes", `{` + vol + `,"numberOfReplicas":0.0}`, 400, "field numberOfReplicas"},
		{"explicit zero size from backup", "POST", "/v1/volumes", `{"name":"v","size":0,"fromBackup":"file:///b?backup=b1&volume=v"}`, 400, "field size: explicit 0"},
		{"explicit empty frontend", "POST", "/v1/volumes", `{` + vol + `,"frontend":""}`, 400, "field frontend"},
		{"explicit zero poll interval", "POST", "/v1/backuptargets", `{"name":"t","url":"file:///b","pollInterval":"0s"}`, 400, "field pollInterval"},
		{"explicit zero grace period", "POST", "/v1/consumers", `{"name":"c","volume":"v","node":"n1","terminationGracePeriod":"0s"}`, 400, "field terminationGracePeriod"},
		{"explicit empty compression", "POST", "/v1/backups", `{"volume":"v","compression":""}`, 400, "field compression"},
		{"explicit empty backup policy", "POST", "/v1/systembackups", `{"name":"sb","volumeBackupPolicy":""}`, 400, "field volumeBackupPolicy"},
		{"wrong type", "POST", "/v1/volumes", `{"name":"v","size":"1MiB"}`, 400, "field size"},
		{"wrong nested type", "PUT", "/v1/nodes/n1/heartbeat", `{"address":"a","rpcAddress":"b","nbdAddress":"c","disks":[{"name":"d","totalBytes":"x"}]}`, 400, "field disks[0].totalBytes"},
		{"fraction for an integer", "POST", "/v1/volumes", `{` + vol + `,"numberOfReplicas":2.5}`, 400, "numberOfReplicas"},
		{"array body", "POST", "/v1/volumes", `[{` + vol + `}]`, 400, "want a JSON object"},
		{"null body", "POST", "/v1/volumes", `null`, 400, "want a JSON object"},
		{"trailing garbage", "POST", "/v1/volumes", `{` + vol + `}x`, 400, "after the JSON object"},
		{"trailing object", "POST", "/v1/volumes", `{` + vol + `}{}`, 400, "after the JSON object"},
		{"truncated", "POST", "/v1/volumes", `{` + vol, 400, "unexpected end"},
		{"huge body", "POST", "/v1/volumes", `{` + vol + `,"engineImage":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, "larger than"},
		{"deep nesting", "POST", "/v1/backups", `{"volume":"v","labels":{"a":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}}`, 400, "nests more than 32 levels deep"},
		{"unknown field on detach", "POST", "/v1/volumes/v/detach", `{"force":true}`, 400, "unknown field force"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawCall(t, tt.method, tm.url+tt.path, tt.body)
			checkErrorBody(t, status, body, tt.code, tt.msg)
		})
	}
	err = tm.m.store.View(func(tx *Tx) error {
		evs, last, err := tx.Events(base, 10)
		if len(evs) != 0 || last != base {
			t.Errorf("rejected requests produced events: %d (last seq %d)", len(evs), last)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDecodeStrictAccepts(t *testing.T) {
	tests := []struct {
		name string
		body string
		want api.VolumeCreateRequest
	}{
		{"minimal", `{"name":"v","size":1048576}`, api.VolumeCreateRequest{Name: "v", Size: 1 << 20}},
		{"every field", `{"name":"v","size":1048576,"numberOfReplicas":2,"frontend":"nbd","backupTargetName":"t","engineImage":"e","backingImage":"b","standby":false}`,
			api.VolumeCreateRequest{Name: "v", Size: 1 << 20, NumberOfReplicas: 2, Frontend: "nbd", BackupTargetName: "t", EngineImage: "e", BackingImage: "b"}},
		{"null leaves the default", `{"name":"v","size":1048576,"numberOfReplicas":null}`, api.VolumeCreateRequest{Name: "v", Size: 1 << 20}},
		{"white space", " \n{ \"name\" : \"v\" ,\t\"size\" : 1048576 }\n", api.VolumeCreateRequest{Name: "v", Size: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got api.VolumeCreateRequest
			if err := decodeStrict([]byte(tt.body), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzDecodeStrict: the strict decoder never panics, refuses only with a
// 400, and whatever it accepts encodes and decodes strictly again to the
// same value.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{"name":"v","size":1048576,"numberOfReplicas":2}`,
		`{"name":"v","SIZE":1}`, `{"name":"v","name":"w"}`, `{"numberOfReplicas":0}`,
		`{"address":"a","rpcAddress":"b","nbdAddress":"c","disks":[{"name":"d","totalBytes":10,"freeBytes":5}]}`,
		`{"name":"t","url":"s3://b@r/x","pollInterval":"30s","credential":{"accessKey":"a"}}`,
		`{"volume":"v","labels":{"a":"1","b":"2"}}`, `{"name":"sb","targetSecrets":{"t":"s"}}`,
		`{}`, `[]`, `null`, `{"size":1e400}`, `{"name":"\u0000"}`, "\xff\xfe", `{"name":"v"`, `{"a":{"b":[1,{"c":2}]}}`,
	} {
		f.Add(s)
	}
	targets := []func() any{
		func() any { return new(api.VolumeCreateRequest) },
		func() any { return new(api.HeartbeatRequest) },
		func() any { return new(api.BackupTargetCreateRequest) },
		func() any { return new(api.BackupTargetUpdateRequest) },
		func() any { return new(api.BackupCreateRequest) },
		func() any { return new(api.ConsumerCreateRequest) },
		func() any { return new(api.SystemRestoreCreateRequest) },
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, newT := range targets {
			v := newT()
			if err := decodeStrict([]byte(body), v); err != nil {
				if !api.IsCode(err, 400) {
					t.Fatalf("%T: %q refused with %v, want a 400", v, body, err)
				}
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T: re-encode %+v: %v", v, v, err)
			}
			again := newT()
			if err := decodeStrict(b, again); err != nil {
				t.Fatalf("%T: %q accepted, but its re-encoding %s is refused: %v", v, body, b, err)
			}
			// Compared by encoding: {} and an omitted map differ only as
			// empty and nil, which encode alike.
			if b2, err := json.Marshal(again); err != nil || string(b2) != string(b) {
				t.Fatalf("%T: %q decodes to %s, which decodes and encodes to %s (%v)", v, body, b, b2, err)
			}
		}
	})
}
