package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// object is one decoded Kubernetes document.
type object struct {
	file string
	doc  map[string]any
}

func (o object) kind() string { return str(o.doc, "kind") }
func (o object) name() string { return str(o.doc, "metadata", "name") }

// get walks maps and lists: get(m, "spec", "template", "containers", 0).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

func loadManifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/k8s: %v", err)
	}
	var out []object
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc == nil {
				continue
			}
			out = append(out, object{file: filepath.Base(f), doc: doc})
		}
	}
	return out
}

func TestKubernetesManifests(t *testing.T) {
	objs := loadManifests(t)
	byKind := map[string]map[string]object{}
	for _, o := range objs {
		if str(o.doc, "apiVersion") == "" || o.kind() == "" {
			t.Errorf("%s: a document without apiVersion or kind", o.file)
			continue
		}
		if o.kind() != "Kustomization" && o.name() == "" {
			t.Errorf("%s: %s without metadata.name", o.file, o.kind())
		}
		if byKind[o.kind()] == nil {
			byKind[o.kind()] = map[string]object{}
		}
		byKind[o.kind()][o.name()] = o
	}

	// The kustomization lists every other file.
	kust := byKind["Kustomization"][""]
	var listed []string
	for _, r := range get(kust.doc, "resources").([]any) {
		listed = append(listed, r.(string))
	}
	files, _ := filepath.Glob("k8s/*.yaml")
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !slices.Contains(listed, b) {
			t.Errorf("kustomization.yaml does not list %s", b)
		}
	}
	for _, r := range listed {
		if _, err := os.Stat(filepath.Join("k8s", r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}

	// NATS and Redis are existing services, not deployed here.
	for _, o := range objs {
		if n := o.name(); strings.Contains(n, "nats") || strings.Contains(n, "redis") {
			t.Errorf("%s: %s %s: NATS and Redis are referenced, not deployed", o.file, o.kind(), n)
		}
		if o.kind() == "StatefulSet" || o.kind() == "Secret" {
			t.Errorf("%s: a %s has no place here", o.file, o.kind())
		}
	}

	for _, app := range []struct {
		name, port string
	}{{"gatekeeper", "8080"}, {"prefs", "8081"}} {
		t.Run(app.name, func(t *testing.T) {
			d, ok := byKind["Deployment"][app.name]
			if !ok {
				t.Fatalf("no Deployment %s", app.name)
			}
			labels := get(d.doc, "spec", "selector", "matchLabels").(map[string]any)
			if !subset(labels, get(d.doc, "spec", "template", "metadata", "labels")) {
				t.Errorf("selector %v does not match the pod labels", labels)
			}
			pod := get(d.doc, "spec", "template", "spec")
			if get(pod, "securityContext", "runAsNonRoot") != true {
				t.Error("pods may run as root")
			}
			c := get(pod, "containers", 0)
			if str(c, "image") != "hush/"+app.name {
				t.Errorf("image %q", str(c, "image"))
			}
			if port := fmt.Sprint(get(c, "ports", 0, "containerPort")); port != app.port {
				t.Errorf("container port %s, want %s", port, app.port)
			}
			for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
				if got := str(c, probe, "httpGet", "path"); got != path {
					t.Errorf("%s path %q, want %s", probe, got, path)
				}
				if got := fmt.Sprint(get(c, probe, "httpGet", "port")); got != "http" {
					t.Errorf("%s port %s, want the named port http", probe, got)
				}
			}
			for _, r := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
				k, v, _ := strings.Cut(r, ".")
				if str(c, "resources", k, v) == "" {
					t.Errorf("no resources.%s", r)
				}
			}
			sc := get(c, "securityContext")
			if get(sc, "readOnlyRootFilesystem") != true || get(sc, "allowPrivilegeEscalation") != false {
				t.Errorf("container securityContext %v", sc)
			}
			env := map[string]any{}
			for _, e := range get(c, "env").([]any) {
				env[str(e, "name")] = e
				if strings.Contains(str(e, "name"), "PASSWORD") || strings.Contains(str(e, "name"), "TOKENS") ||
					strings.Contains(str(e, "name"), "KEYS") || str(e, "name") == "HUSH_REDIS_URL" {
					if str(e, "valueFrom", "secretKeyRef", "name") != "hush-secrets" {
						t.Errorf("%s is not taken from the hush-secrets Secret", str(e, "name"))
					}
				}
			}
			if !strings.Contains(str(env["HUSH_NATS_URL"], "value"), ".svc.cluster.local:4222") {
				t.Errorf("HUSH_NATS_URL %v: want the existing NATS service", env["HUSH_NATS_URL"])
			}
			if str(env["HUSH_NATS_USER"], "value") != app.name {
				t.Errorf("NATS user %v, want %s (deploy/nats/accounts.conf)", env["HUSH_NATS_USER"], app.name)
			}

			pdb, ok := byKind["PodDisruptionBudget"][app.name]
			if !ok {
				t.Fatal("no PodDisruptionBudget")
			}
			if !subset(get(pdb.doc, "spec", "selector", "matchLabels").(map[string]any), get(d.doc, "spec", "template", "metadata", "labels")) {
				t.Error("the PodDisruptionBudget selects other pods")
			}
			if get(pdb.doc, "spec", "minAvailable") == nil && get(pdb.doc, "spec", "maxUnavailable") == nil {
				t.Error("the PodDisruptionBudget allows every pod to go")
			}
			svc, ok := byKind["Service"][app.name]
			if !ok {
				t.Fatal("no Service")
			}
			if !subset(get(svc.doc, "spec", "selector").(map[string]any), get(d.doc, "spec", "template", "metadata", "labels")) {
				t.Error("the Service selects other pods")
			}
		})
	}

	// Only settings the binaries have are set.
	for _, app := range []string{"gatekeeper", "prefs"} {
		known := settingsOf(t, "..", app)
		d := byKind["Deployment"][app]
		for _, e := range get(d.doc, "spec", "template", "spec", "containers", 0, "env").([]any) {
			if n := str(e, "name"); strings.HasPrefix(n, "HUSH_") && !known[n] {
				t.Errorf("%s env %s is no setting of services/%s", app, n, app)
			}
		}
	}
	gk := byKind["Deployment"]["gatekeeper"]
	if g := fmt.Sprint(get(gk.doc, "spec", "template", "spec", "terminationGracePeriodSeconds")); g != "35" {
		t.Errorf("gatekeeper terminationGracePeriodSeconds %s: want more than its 25s shutdown grace", g)
	}

	// The gatekeeper scales on the intents consumer's lag.
	so, ok := byKind["ScaledObject"]["gatekeeper"]
	if !ok {
		t.Fatal("no KEDA ScaledObject for the gatekeeper")
	}
	if str(so.doc, "spec", "scaleTargetRef", "name") != "gatekeeper" || str(so.doc, "spec", "scaleTargetRef", "kind") != "Deployment" {
		t.Errorf("ScaledObject targets %v", get(so.doc, "spec", "scaleTargetRef"))
	}
	trig := get(so.doc, "spec", "triggers", 0)
	for k, want := range map[string]string{"stream": "HUSH_INTENTS", "consumer": "gatekeeper", "account": "HUSH"} {
		if got := str(trig, "metadata", k); got != want {
			t.Errorf("trigger %s = %q, want %q", k, got, want)
		}
	}
	if str(trig, "type") != "nats-jetstream" || str(trig, "metadata", "lagThreshold") == "" {
		t.Errorf("trigger %v: want nats-jetstream with a lagThreshold", trig)
	}
	if n := fmt.Sprint(get(so.doc, "spec", "minReplicaCount")); n != "2" {
		t.Errorf("minReplicaCount %s: the PodDisruptionBudget needs two", n)
	}
}

func subset(sub map[string]any, of any) bool {
	m, ok := of.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return true
}
