package kind

import (
	"bytes"
	"context"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/e2e-framework/klient/decoder"
	"sigs.k8s.io/e2e-framework/klient/k8s"

	"github.com/faultline/faultline/deploy"
	"github.com/faultline/faultline/engine/credential"
	kindconfig "github.com/faultline/faultline/kind-config"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no node image", Config{RefengineImage: "r:1"}, "no node image"},
		{"no refengine image", Config{NodeImage: "n:1"}, "no refengine image"},
		{"latest", Config{NodeImage: "n:1", RefengineImage: "r:latest"}, "never latest"},
		{"untagged", Config{NodeImage: "n:1", RefengineImage: "r"}, "never latest"},
		{"odd disk", Config{NodeImage: "n:1", RefengineImage: "r:1", DiskSize: 1<<20 + 1}, "multiple of 1 MiB"},
		{"unknown kubernetes", Config{NodeImage: "n:1", RefengineImage: "r:1", KubernetesVersion: "v1.20.0"}, "no configuration for Kubernetes v1.20.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	d, err := New(Config{NodeImage: "n:1", RefengineImage: "r:1"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "faultline" || d.Dir() != "/var/tmp/faultline-kind/faultline" {
		t.Fatalf("defaults: name %q dir %q", d.Name(), d.Dir())
	}
}

// The manifests decode into the objects the driver expects, with every placeholder filled and
// every image never pulled.
func TestManifestsRender(t *testing.T) {
	d, err := New(Config{NodeImage: "n:1", RefengineImage: "faultline/refengine:9", DiskSize: 512 << 20, DisksPerNode: 2, Defects: []string{"no-resync-after-crash"}, RestoreRateLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.newCredential(); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(deploy.Manifests, "*.yaml")
	var objs []k8s.Object
	for _, n := range names {
		raw, _ := fs.ReadFile(deploy.Manifests, n)
		err := decoder.DecodeEach(context.Background(), bytes.NewReader(d.render(raw)), func(ctx context.Context, obj k8s.Object) error {
			objs = append(objs, obj)
			return nil
		}, decoder.MutateOption(d.mutate))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	raw := bytes.ReplaceAll(deploy.EngineImage, []byte(deploy.EngineImageName), []byte("eng-a"))
	raw = bytes.ReplaceAll(raw, []byte(deploy.RefengineImage), []byte("faultline/refengine:9"))
	ei, err := decoder.DecodeAll(context.Background(), bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("engine image: %v", err)
	}
	objs = append(objs, ei...)
	var specs []*corev1.PodSpec
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetObjectKind().GroupVersionKind().Kind]++
		switch x := o.(type) {
		case *corev1.Secret:
			tok, err := credential.Parse(x.StringData["token"])
			if x.Name != clusterTokenSecret || err != nil || !tok.Equal(d.Credential()) {
				t.Errorf("secret %s: token %v, want the driver's credential in %s", x.Name, err, clusterTokenSecret)
			}
		case *appsv1.Deployment:
			specs = append(specs, &x.Spec.Template.Spec)
		case *appsv1.DaemonSet:
			specs = append(specs, &x.Spec.Template.Spec)
		}
		if o.GetNamespace() != "" && o.GetNamespace() != Namespace {
			t.Errorf("%s in namespace %q", o.GetName(), o.GetNamespace())
		}
	}
	if kinds["Deployment"] != 1 || kinds["DaemonSet"] != 2 || kinds["Service"] != 1 || kinds["ServiceAccount"] != 3 || kinds["Secret"] != 1 {
		t.Fatalf("objects by kind: %v", kinds)
	}
	for _, s := range specs {
		for _, c := range s.Containers {
			if c.Image != "faultline/refengine:9" || c.ImagePullPolicy != corev1.PullNever {
				t.Errorf("container %s: image %q pull %q", c.Name, c.Image, c.ImagePullPolicy)
			}
			if c.ReadinessProbe == nil {
				t.Errorf("container %s has no readiness probe", c.Name)
			}
			args := strings.Join(c.Args, " ")
			if c.Name == "node" && (!strings.Contains(args, "--disk=disk0=/var/lib/refengine/disk0.img:512M --disk=disk1=/var/lib/refengine/disk1.img:512M") ||
				strings.Contains(args, "disk2") || !strings.Contains(args, "--disk-error-injection")) {
				t.Errorf("node args %q: want two disks of the rendered size and --disk-error-injection (the disk-error fault arms it)", args)
			}
			if c.Name == "manager" && (!strings.Contains(args, "--restore-rate-limit=1048576") || !strings.Contains(args, "--backup-target=file:///var/lib/refengine-backupstore")) {
				t.Errorf("manager args %q: want the restore rate limit and the shared backup store", args)
			}
			if c.Name == "manager" || c.Name == "node" {
				shared := false
				for _, m := range c.VolumeMounts {
					shared = shared || m.MountPath == "/var/lib/refengine-backupstore"
				}
				if !shared {
					t.Errorf("container %s does not mount the shared backup store", c.Name)
				}
			}
			if c.Name == "manager" || c.Name == "node" {
				checkClusterToken(t, s, c)
			}
			if c.Name == "node" {
				// The node's probes need no credential: they use its Unix socket.
				for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
					if p == nil || p.Exec == nil || !strings.Contains(strings.Join(p.Exec.Command, " "), "--rpc-socket=") {
						t.Errorf("node probe %+v: want refengine probe node on the Unix socket", p)
					}
				}
			}
			if c.Name != "engine-image" && (len(c.Env) == 0 || c.Env[len(c.Env)-1].Value != "no-resync-after-crash") {
				t.Errorf("container %s: defects not set: %v", c.Name, c.Env)
			}
		}
	}
}

// checkClusterToken fails unless the container gets the cluster credential:
// --cluster-token-file on a read-only mount of the Secret, readable by its
// owner only.
func checkClusterToken(t *testing.T, pod *corev1.PodSpec, c corev1.Container) {
	t.Helper()
	const file = "/etc/refengine/token"
	if !slices.Contains(c.Args, "--cluster-token-file="+file) {
		t.Errorf("container %s args %q: want --cluster-token-file=%s", c.Name, c.Args, file)
	}
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == path.Dir(file) })
	if i < 0 || !c.VolumeMounts[i].ReadOnly {
		t.Errorf("container %s mounts %+v: want %s read-only", c.Name, c.VolumeMounts, path.Dir(file))
		return
	}
	j := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == c.VolumeMounts[i].Name })
	if j < 0 || pod.Volumes[j].Secret == nil || pod.Volumes[j].Secret.SecretName != clusterTokenSecret {
		t.Errorf("container %s: volume %s is not the Secret %s", c.Name, c.VolumeMounts[i].Name, clusterTokenSecret)
		return
	}
	if m := pod.Volumes[j].Secret.DefaultMode; m == nil || *m&0o077 != 0 {
		t.Errorf("container %s: the credential's mode %v lets others than its owner read it", c.Name, m)
	}
}

func TestKindConfigs(t *testing.T) {
	for _, v := range kindconfig.Versions() {
		b, err := kindconfig.For(v + ".0")
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, want := range []string{"${DATA}/worker3", "${DATA}/backupstore", "${MANAGER_PORT}", "refengine.io/storage", "containerPort: 30950", "kind.x-k8s.io/v1alpha4"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: missing %q", v, want)
			}
		}
		if n := strings.Count(s, "role: worker"); n != 3 {
			t.Errorf("%s: %d workers, want 3", v, n)
		}
	}
	for _, bad := range []string{"", "latest", "v2.0.0"} {
		if _, err := kindconfig.For(bad); err == nil {
			t.Errorf("For(%q): no error", bad)
		}
	}
}

func TestDaemonSetReady(t *testing.T) {
	ds := func(gen, observed int64, desired, ready, updated int32) *appsv1.DaemonSet {
		d := &appsv1.DaemonSet{}
		d.Generation = gen
		d.Status = appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired, NumberReady: ready, UpdatedNumberScheduled: updated}
		return d
	}
	for _, tc := range []struct {
		name string
		ds   *appsv1.DaemonSet
		want bool
	}{
		{"all ready", ds(1, 1, 3, 3, 3), true},
		{"not observed yet", ds(2, 1, 3, 3, 3), false},
		{"nothing scheduled yet", ds(1, 1, 0, 0, 0), false},
		{"one not ready", ds(1, 1, 3, 2, 3), false},
		{"rolling", ds(1, 1, 3, 3, 2), false},
	} {
		if got := daemonSetReady(tc.ds); got != tc.want {
			t.Errorf("%s: got %t", tc.name, got)
		}
	}
}
