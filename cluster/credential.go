package cluster

import (
	"github.com/faultline/faultline/engine/client"
	"github.com/faultline/faultline/engine/credential"
)

// Credentialed is a driver whose manager and nodes hold a cluster
// credential (engine/credential): framework code proves it to the nodes'
// TCP JSON-RPC and derives the REST API's bearer token from it.
type Credentialed interface {
	Credential() credential.Token
}

// CredentialOf returns the driver's cluster credential, or the zero Token
// when it has none (an older refengine, or a driver without one).
func CredentialOf(d Driver) credential.Token {
	if c, ok := d.(Credentialed); ok {
		return c.Credential()
	}
	return credential.Token{}
}

// ManagerClient returns a REST client for the driver's manager that sends
// the admin token derived from the cluster credential, when there is one.
func ManagerClient(d Driver) (*client.Client, error) {
	c, err := client.New(d.ManagerURL(), nil)
	if err != nil {
		return nil, err
	}
	if cred := CredentialOf(d); !cred.IsZero() {
		c.SetToken(cred.AdminAPIToken())
	}
	return c, nil
}
