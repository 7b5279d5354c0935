package backupstore

import (
	"testing"

	"github.com/faultline/faultline/internal/versitygw"
)

// s3Server is a real versitygw S3 server on loopback (internal/versitygw), with the calls the
// shared target suite uses to take it down and bring it back.
type s3Server struct{ *versitygw.Server }

// startS3 starts a server for the test, or skips the test saying why when versitygw is missing.
func startS3(tb testing.TB) *s3Server { return &s3Server{versitygw.Start(tb)} }

// Start restarts a stopped server on its address.
func (s *s3Server) Start() { s.Restart() }

// Cred is the credential for the test server.
func (s *s3Server) Cred() Credential {
	return Credential{AccessKey: versitygw.AccessKey, SecretKey: versitygw.SecretKey, Endpoint: s.Endpoint}
}
