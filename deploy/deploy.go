// Package deploy holds refengine's Kubernetes manifests, shaped like Longhorn's v2 data engine
// deployment: the manager as a Deployment behind a Service, the instance manager (refengine node) as
// a DaemonSet on the storage nodes with its disk and data on hostPath, and the engine-image
// DaemonSet template that places an engine binary on every storage host. The kind cluster driver
// applies them through the Kubernetes API; they are plain YAML so that kubectl apply works too.
package deploy

import "embed"

// Manifests are the YAML files applied in name order (00-namespace first).
//
//go:embed *.yaml
var Manifests embed.FS

// EngineImage is the template of one engine image's DaemonSet; the driver fills in the image's
// name and the refengine container image.
//
//go:embed engine-image/engine-image.yaml
var EngineImage []byte

// Placeholders the driver replaces before applying.
const (
	// RefengineImage stands for the refengine container image (name:tag).
	RefengineImage = "REFENGINE_IMAGE"
	// EngineImageName stands for the engine image's name in the engine-image template.
	EngineImageName = "ENGINE_IMAGE_NAME"
	// ClusterToken stands for the cluster credential's text form (credential.Token.String) in
	// the Secret the manager and the nodes mount (05-cluster-token.yaml).
	ClusterToken = "CLUSTER_TOKEN"
)
