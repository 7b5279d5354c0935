package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBackupTargetCreateRequestValidate(t *testing.T) {
	s3 := "s3://backups@us-east-1/pre"
	cred := &BackupTargetCredential{AccessKey: "ak", SecretKey: "sk", Endpoint: "http://127.0.0.1:7070"}
	tests := []struct {
		name string
		req  BackupTargetCreateRequest
		msg  string // "" means valid
	}{
		{"file", BackupTargetCreateRequest{Name: "t1", URL: "file:///backups"}, ""},
		{"s3 with credential", BackupTargetCreateRequest{Name: "t1", URL: s3, Credential: cred}, ""},
		{"s3 matching region", BackupTargetCreateRequest{Name: "t1", URL: s3, Credential: &BackupTargetCredential{Region: "us-east-1"}}, ""},
		{"bad name", BackupTargetCreateRequest{Name: "T1", URL: "file:///b"}, "name"},
		{"no url", BackupTargetCreateRequest{Name: "t1"}, "url is required"},
		{"relative file", BackupTargetCreateRequest{Name: "t1", URL: "file://rel/dir"}, "invalid backup target URL"},
		{"unknown scheme", BackupTargetCreateRequest{Name: "t1", URL: "nfs://h/x"}, "unknown scheme"},
		{"secret in url", BackupTargetCreateRequest{Name: "t1", URL: "s3://b:pw@us-east-1/"}, "credentials do not belong"},
		{"short poll", BackupTargetCreateRequest{Name: "t1", URL: "file:///b", PollInterval: Duration(time.Second)}, "too short"},
		{"negative poll", BackupTargetCreateRequest{Name: "t1", URL: "file:///b", PollInterval: Duration(-time.Minute)}, "too short"},
		{"file with credential", BackupTargetCreateRequest{Name: "t1", URL: "file:///b", Credential: cred}, "take no credential"},
		{"region mismatch", BackupTargetCreateRequest{Name: "t1", URL: s3, Credential: &BackupTargetCredential{Region: "eu-west-1"}}, "differs"},
		{"bad endpoint", BackupTargetCreateRequest{Name: "t1", URL: s3, Credential: &BackupTargetCredential{Endpoint: "ftp://h"}}, "endpoint"},
		{"endpoint with path", BackupTargetCreateRequest{Name: "t1", URL: s3, Credential: &BackupTargetCredential{Endpoint: "http://h/x"}}, "endpoint"},
		{"huge secret", BackupTargetCreateRequest{Name: "t1", URL: s3, Credential: &BackupTargetCredential{SecretKey: strings.Repeat("s", MaxSecretLength+1)}}, "secretKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Normalize()
			err := tt.req.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !IsCode(err, 400) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Validate() = %v, want a 400 mentioning %q", err, tt.msg)
			}
		})
	}
}

func TestBackupTargetDefaults(t *testing.T) {
	r := BackupTargetCreateRequest{Name: "t", URL: "file:///b"}
	r.Normalize()
	if r.PollInterval != DefaultBackupTargetPollInterval {
		t.Fatalf("default poll interval %s, want %s", r.PollInterval, DefaultBackupTargetPollInterval)
	}
	v := VolumeCreateRequest{Name: "v", Size: MiB}
	v.Normalize()
	if v.BackupTargetName != DefaultBackupTarget {
		t.Fatalf("volume backupTargetName %q, want %q", v.BackupTargetName, DefaultBackupTarget)
	}
	v.BackupTargetName = "Bad"
	if err := v.Validate(); err == nil || !strings.Contains(err.Error(), "backupTarget name") {
		t.Fatalf("bad backupTargetName: %v", err)
	}
}

func TestBackupTargetUpdateRequestValidate(t *testing.T) {
	short, ok := Duration(5*time.Second), Duration(time.Minute)
	tests := []struct {
		name string
		req  BackupTargetUpdateRequest
		msg  string
	}{
		{"url", BackupTargetUpdateRequest{URL: "file:///other"}, ""},
		{"poll", BackupTargetUpdateRequest{PollInterval: &ok}, ""},
		{"remove credential", BackupTargetUpdateRequest{Credential: &BackupTargetCredential{}}, ""},
		{"empty", BackupTargetUpdateRequest{}, "nothing to change"},
		{"bad url", BackupTargetUpdateRequest{URL: "file:///"}, "root directory"},
		{"short poll", BackupTargetUpdateRequest{PollInterval: &short}, "too short"},
		{"bad endpoint", BackupTargetUpdateRequest{Credential: &BackupTargetCredential{Endpoint: "h:1"}}, "endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !IsCode(err, 400) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Validate() = %v, want a 400 mentioning %q", err, tt.msg)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in   string
		want Duration
		ok   bool
	}{
		{`"5m"`, Duration(5 * time.Minute), true}, {`"300s"`, Duration(5 * time.Minute), true},
		{`"1h30m"`, Duration(90 * time.Minute), true},
		{`300`, 0, false}, {`"five minutes"`, 0, false}, {`null`, 0, true}, {`""`, 0, false},
	}
	for _, tt := range tests {
		var d Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err == nil) != tt.ok || (tt.ok && d != tt.want) {
			t.Errorf("Unmarshal(%s) = %s, %v; want %s ok=%v", tt.in, d, err, tt.want, tt.ok)
		}
	}
	b, err := json.Marshal(Duration(10 * time.Second))
	if err != nil || string(b) != `"10s"` {
		t.Fatalf("Marshal(10s) = %s, %v", b, err)
	}
}
