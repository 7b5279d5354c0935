package kind

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/klient/decoder"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"

	"github.com/faultline/faultline/deploy"
)

// engineImageDir is where engine-image pods place binaries on each storage host; the instance
// manager mounts the same host directory at the same path.
const engineImageDir = "/var/lib/refengine-engine-images"

// InstallEngineImage deploys an engine image as Longhorn does: a DaemonSet whose pods copy the
// refengine binary onto every storage host. It returns once every pod is ready (the binary on the
// host verified), with the path the instance managers execute it from.
func (d *Driver) InstallEngineImage(ctx context.Context, name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/. ") {
		return "", fmt.Errorf("engine image name %q: want a DNS label", name)
	}
	raw := bytes.ReplaceAll(deploy.EngineImage, []byte(deploy.EngineImageName), []byte(name))
	raw = bytes.ReplaceAll(raw, []byte(deploy.RefengineImage), []byte(d.cfg.RefengineImage))
	if err := decoder.DecodeEach(ctx, bytes.NewReader(raw), decoder.CreateHandler(d.res)); err != nil {
		return "", fmt.Errorf("engine image %s: %w", name, err)
	}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "engine-image-" + name, Namespace: Namespace}}
	if err := wait.For(conditions.New(d.res).ResourceMatch(ds, daemonSetReady), wait.WithContext(ctx), wait.WithTimeout(2*time.Minute), wait.WithInterval(500*time.Millisecond)); err != nil {
		return "", fmt.Errorf("engine image %s: daemonset not ready: %w", name, err)
	}
	return path.Join(engineImageDir, name, "refengine"), nil
}

// RemoveEngineImage deletes the engine image's DaemonSet. The binaries stay on the hosts, as
// Longhorn's do, for engines that may still run from them.
func (d *Driver) RemoveEngineImage(ctx context.Context, name string) error {
	err := d.kube.AppsV1().DaemonSets(Namespace).Delete(ctx, "engine-image-"+name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove engine image %s: %w", name, err)
	}
	return nil
}
