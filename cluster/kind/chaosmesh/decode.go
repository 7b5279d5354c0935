package chaosmesh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Object is one Chaos Mesh fault object read from a file: the typed object
// after Chaos Mesh's defaulting and validation, and the same object for a
// dynamic client.
type Object struct {
	Typed        runtime.Object
	Unstructured *unstructured.Unstructured
}

// Ref is KIND/NAMESPACE/NAME.
func (o Object) Ref() string {
	return o.Unstructured.GetKind() + "/" + o.Unstructured.GetNamespace() + "/" + o.Unstructured.GetName()
}

// PodChaos is the object as a PodChaos, or nil.
func (o Object) PodChaos() *v1alpha1.PodChaos {
	pc, _ := o.Typed.(*v1alpha1.PodChaos)
	return pc
}

// maxDecode bounds what Decode reads: Chaos Mesh objects are small.
const maxDecode = 1 << 20

// Decode reads the Chaos Mesh fault objects of a YAML or JSON file (several
// documents separated by ---), the way faultline fault apply takes them. Each
// must be a Chaos Mesh fault kind (PodChaos, NetworkChaos, IOChaos, …) with
// a name; fields Chaos Mesh does not know are refused, the namespace
// defaults to defaultNS, and each object passes Chaos Mesh's own webhook
// defaulting and validation, so what Chaos Mesh would refuse is refused
// here, before anything reaches the cluster.
func Decode(r io.Reader, defaultNS string) ([]Object, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxDecode+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxDecode {
		return nil, fmt.Errorf("more than %d bytes: not a Chaos Mesh object file", maxDecode)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	var out []Object
	for i := 1; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if m == nil {
			continue // an empty document
		}
		o, err := decodeOne(scheme, &unstructured.Unstructured{Object: m}, defaultNS)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return nil, errors.New("no Chaos Mesh object in the file")
	}
	return out, nil
}

// webhook is what Chaos Mesh's admission webhook calls on its fault kinds.
type webhook interface {
	Default(context.Context, runtime.Object) error
	Validate() ([]string, error)
}

func decodeOne(scheme *runtime.Scheme, u *unstructured.Unstructured, defaultNS string) (Object, error) {
	gvk := u.GroupVersionKind()
	if gvk.GroupVersion() != v1alpha1.SchemeGroupVersion {
		return Object{}, fmt.Errorf("apiVersion %q kind %q: not a Chaos Mesh object (want apiVersion %s)", u.GetAPIVersion(), u.GetKind(), v1alpha1.SchemeGroupVersion)
	}
	typed, err := scheme.New(gvk)
	if err != nil {
		return Object{}, fmt.Errorf("kind %q: not a Chaos Mesh kind", u.GetKind())
	}
	hook, ok := typed.(webhook)
	if _, inner := typed.(v1alpha1.InnerObject); !ok || !inner {
		return Object{}, fmt.Errorf("kind %s: not a Chaos Mesh fault (schedules and workflows are not faults)", u.GetKind())
	}
	if u.GetName() == "" {
		return Object{}, fmt.Errorf("%s without metadata.name", u.GetKind())
	}
	delete(u.Object, "status")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, typed, true); err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	meta := typed.(interface {
		GetNamespace() string
		SetNamespace(string)
	})
	if meta.GetNamespace() == "" {
		meta.SetNamespace(defaultNS)
	}
	if err := hook.Default(context.Background(), typed); err != nil {
		return Object{}, fmt.Errorf("%s %s: defaults: %w", u.GetKind(), u.GetName(), err)
	}
	if _, err := hook.Validate(); err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	// The CRD's schema, not the webhook, holds the actions; check PodChaos's, which faultline
	// carries out itself without Chaos Mesh.
	if pc, ok := typed.(*v1alpha1.PodChaos); ok {
		switch pc.Spec.Action {
		case v1alpha1.PodKillAction, v1alpha1.PodFailureAction, v1alpha1.ContainerKillAction:
		default:
			return Object{}, fmt.Errorf("%s %s: action %q: want pod-kill, pod-failure or container-kill", u.GetKind(), u.GetName(), pc.Spec.Action)
		}
	}
	typed.GetObjectKind().SetGroupVersionKind(gvk)
	uo, err := Unstructured(typed)
	if err != nil {
		return Object{}, err
	}
	return Object{Typed: typed, Unstructured: uo}, nil
}
