package api

import (
	"net/url"

	"github.com/faultline/faultline/engine/backupstore"
)

// MaxSecretLength bounds a backup target's secret key.
const MaxSecretLength = 1024

// Normalize fills the default poll interval into a create request.
func (r *BackupTargetCreateRequest) Normalize() {
	if r.PollInterval == 0 {
		r.PollInterval = DefaultBackupTargetPollInterval
	}
}

// Validate checks a (normalized) create request.
func (r *BackupTargetCreateRequest) Validate() error {
	if err := ValidateName(KindBackupTarget, r.Name); err != nil {
		return err
	}
	return ValidateBackupTargetSpec(BackupTargetSpec{URL: r.URL, PollInterval: r.PollInterval, Credential: r.Credential})
}

// Validate checks the fields an update request sets; the manager validates
// the merged spec again with ValidateBackupTargetSpec.
func (r *BackupTargetUpdateRequest) Validate() error {
	if r.URL == "" && r.PollInterval == nil && r.Credential == nil {
		return Invalid("backup target update: nothing to change: give url, pollInterval or credential")
	}
	if r.URL != "" {
		if err := ValidateBackupTargetURL(r.URL); err != nil {
			return err
		}
	}
	if r.PollInterval != nil {
		if err := ValidatePollInterval(*r.PollInterval); err != nil {
			return err
		}
	}
	if r.Credential != nil {
		return validateCredential(*r.Credential)
	}
	return nil
}

// ValidateBackupTargetURL checks a target URL with backupstore's own parser,
// so the API refuses exactly what backupstore.Open would.
func ValidateBackupTargetURL(raw string) error {
	if raw == "" {
		return Invalid("backup target url is required (file:///dir or s3://bucket@region/prefix)")
	}
	if _, err := backupstore.ParseURL(raw); err != nil {
		return Invalid("backup target url: %v", err)
	}
	return nil
}

// ValidatePollInterval checks a target's poll interval: at least 10 s, so
// that availability checks cannot hammer a target.
func ValidatePollInterval(d Duration) error {
	if d < MinBackupTargetPollInterval {
		return Invalid("backup target pollInterval %s is too short: want at least %s", d, MinBackupTargetPollInterval)
	}
	return nil
}

// ValidateBackupTargetSpec checks a whole spec: the URL, the poll interval,
// and that the credential fits the URL (file targets take none; an S3
// region, when given, must be the URL's).
func ValidateBackupTargetSpec(s BackupTargetSpec) error {
	if err := ValidateBackupTargetURL(s.URL); err != nil {
		return err
	}
	if err := ValidatePollInterval(s.PollInterval); err != nil {
		return err
	}
	if s.Credential == nil {
		return nil
	}
	if err := validateCredential(*s.Credential); err != nil {
		return err
	}
	loc, _ := backupstore.ParseURL(s.URL) // checked above
	switch {
	case loc.Scheme == "file":
		return Invalid("backup target credential: file targets take no credential (send \"credential\":{} to remove it)")
	case s.Credential.Region != "" && s.Credential.Region != loc.Region:
		return Invalid("backup target credential: region %q differs from the URL's region %q", truncate(s.Credential.Region), loc.Region)
	}
	return nil
}

// validateCredential checks field lengths and the endpoint's form (the rule
// backupstore applies when it opens an S3 target).
func validateCredential(c BackupTargetCredential) error {
	for _, f := range []struct{ field, v string }{{"accessKey", c.AccessKey}, {"endpoint", c.Endpoint}, {"region", c.Region}} {
		if len(f.v) > MaxAddressLength {
			return Invalid("backup target credential: %s is longer than %d bytes", f.field, MaxAddressLength)
		}
	}
	if len(c.SecretKey) > MaxSecretLength {
		return Invalid("backup target credential: secretKey is longer than %d bytes", MaxSecretLength)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return Invalid("backup target credential: endpoint %q: want http(s)://host[:port]", truncate(c.Endpoint))
		}
	}
	return nil
}
