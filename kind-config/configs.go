// Package kindconfig holds faultline's kind cluster configurations (kind.x-k8s.io/v1alpha4), one
// per supported Kubernetes minor version, named v1.<minor>.yaml.
package kindconfig

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed v*.yaml
var files embed.FS

// For returns the configuration for a Kubernetes version such as v1.34.4 or v1.34.
func For(kubernetesVersion string) ([]byte, error) {
	parts := strings.SplitN(strings.TrimPrefix(kubernetesVersion, "v"), ".", 3)
	if len(parts) < 2 {
		return nil, fmt.Errorf("kind config: %q is not a Kubernetes version like v1.34.4", kubernetesVersion)
	}
	name := "v" + parts[0] + "." + parts[1] + ".yaml"
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("kind config: no configuration for Kubernetes %s (have: %s)", kubernetesVersion, strings.Join(Versions(), ", "))
	}
	return b, nil
}

// Versions lists the Kubernetes minor versions there is a configuration for.
func Versions() []string {
	ents, _ := files.ReadDir(".")
	var vs []string
	for _, e := range ents {
		vs = append(vs, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return vs
}
