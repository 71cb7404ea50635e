package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	k8sDir = "kubernetes"
	// exampleSecret shows the Secret the manifests read; it is not applied.
	exampleSecret = "secret.example.yaml"
	// imagePrefix names the images: herald-<binary>, as compose tags them.
	imagePrefix = "herald-"
)

// kustomization is the part of kustomize's file these manifests use.
// Decoding is strict: a field added to the file must be added here, and
// its effect on the checks considered.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images"`
}

// manifests is what the files declare.
type manifests struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	services   []located[*corev1.Service]
	budgets    []located[*policyv1.PodDisruptionBudget]
	workloads  []workload
	used       map[string]bool // "ConfigMap/name/key", "Secret/name/key" read by a container
}

type located[T any] struct {
	file string
	obj  T
}

// workload is a Deployment, StatefulSet or Job reduced to its pod.
type workload struct {
	file, kind, name string
	podLabels        map[string]string
	pod              corev1.PodSpec
	oneShot          bool   // a Job: runs to completion, serves nothing
	serviceName      string // a StatefulSet's governing Service
}

func (w workload) String() string { return w.file + " " + w.kind + "/" + w.name }

// TestKubernetesManifests decodes every manifest strictly into the
// Kubernetes API types (k8s.io/api: an unknown or misspelt field, or a
// value of the wrong type, fails, as the API server's schema would refuse
// it), checks references between objects, and checks every container
// against the binary it runs, as TestComposeFile does for compose.yaml.
func TestKubernetesManifests(t *testing.T) {
	k := readKustomization(t)
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, used: map[string]bool{}}
	for _, f := range k.Resources {
		m.decodeFile(t, f, false)
	}
	m.decodeFile(t, exampleSecret, true)

	images := map[string]bool{}
	for _, img := range k.Images {
		images[img.Name] = true
	}
	var cs []container
	for _, w := range m.workloads {
		m.checkWorkload(t, w)
		for _, c := range w.pod.Containers {
			cs = append(cs, m.container(t, w, c, images))
		}
		for _, c := range w.pod.InitContainers {
			t.Errorf("%s: init container %s: the manifests use none; teach this test what it runs", w, c.Name)
		}
	}
	network := m.checkServices(t)
	checkMigrations(t, cs)
	for name, cm := range m.configMaps {
		for key := range cm.Data {
			if !m.used["ConfigMap/"+name+"/"+key] {
				t.Errorf("ConfigMap %s: key %s is read by no container", name, key)
			}
		}
	}
	for name, s := range m.secrets {
		for _, key := range secretKeys(s) {
			if !m.used["Secret/"+name+"/"+key] {
				t.Errorf("Secret %s (%s): key %s is read by no container", name, exampleSecret, key)
			}
		}
	}
	checkContainers(t, "deploy/kubernetes", cs)
	checkWiring(t, "deploy/kubernetes", cs, network)
}

func readKustomization(t *testing.T) kustomization {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: %s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	// A manifest the kustomization does not list is never applied.
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && base != exampleSecret && !slices.Contains(k.Resources, base) {
			t.Errorf("%s is not in kustomization.yaml's resources, so it is never applied", base)
		}
	}
	return k
}

// apiVersions are the kinds the manifests may hold.
var apiVersions = map[string]string{
	"ConfigMap": "v1", "Secret": "v1", "Service": "v1",
	"Deployment": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1",
	"PodDisruptionBudget": "policy/v1",
}

// decodeFile decodes each YAML document of file strictly into its type.
func (m *manifests) decodeFile(t *testing.T, file string, secretOnly bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(k8sDir, file))
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Errorf("%s: document %d: %v", file, n, err)
			return
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Errorf("%s: document %d: %v", file, n, err)
			continue
		}
		if tm.Kind == "" && len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue // comments only
		}
		where := fmt.Sprintf("%s: document %d (%s)", file, n, tm.Kind)
		if want, ok := apiVersions[tm.Kind]; !ok {
			t.Errorf("%s: kind %q is not one this test knows; add it to apiVersions and decode it", where, tm.Kind)
			continue
		} else if tm.APIVersion != want {
			t.Errorf("%s: apiVersion %q, want %q", where, tm.APIVersion, want)
		}
		if secretOnly && tm.Kind != "Secret" {
			t.Errorf("%s: only the Secret belongs in %s", where, exampleSecret)
			continue
		}
		if err := m.add(file, tm.Kind, doc); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.SplitSeq(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
		}
	}
	return out
}

// add decodes doc, refusing fields its type does not have.
func (m *manifests) add(file, kind string, doc []byte) error {
	decode := func(into any) error { return yaml.UnmarshalStrict(doc, into) }
	switch kind {
	case "ConfigMap":
		return addNamed(decode, m.configMaps, func(o *corev1.ConfigMap) string { return o.Name })
	case "Secret":
		return addNamed(decode, m.secrets, func(o *corev1.Secret) string { return o.Name })
	case "Service":
		var o corev1.Service
		if err := decode(&o); err != nil {
			return err
		}
		m.services = append(m.services, located[*corev1.Service]{file, &o})
	case "PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		if err := decode(&o); err != nil {
			return err
		}
		m.budgets = append(m.budgets, located[*policyv1.PodDisruptionBudget]{file, &o})
	case "Deployment":
		var o appsv1.Deployment
		if err := decode(&o); err != nil {
			return err
		}
		return m.addWorkload(workload{file: file, kind: kind, name: o.Name, podLabels: o.Spec.Template.Labels, pod: o.Spec.Template.Spec}, o.Spec.Selector)
	case "StatefulSet":
		var o appsv1.StatefulSet
		if err := decode(&o); err != nil {
			return err
		}
		return m.addWorkload(workload{file: file, kind: kind, name: o.Name, podLabels: o.Spec.Template.Labels, pod: o.Spec.Template.Spec,
			serviceName: o.Spec.ServiceName}, o.Spec.Selector)
	case "Job":
		var o batchv1.Job
		if err := decode(&o); err != nil {
			return err
		}
		return m.addWorkload(workload{file: file, kind: kind, name: o.Name, podLabels: o.Spec.Template.Labels, pod: o.Spec.Template.Spec, oneShot: true}, o.Spec.Selector)
	}
	return nil
}

// addNamed decodes one object into byName, refusing a second of its name.
func addNamed[T any](decode func(any) error, byName map[string]*T, name func(*T) string) error {
	o := new(T)
	if err := decode(o); err != nil {
		return err
	}
	if byName[name(o)] != nil {
		return fmt.Errorf("a second object named %s", name(o))
	}
	byName[name(o)] = o
	return nil
}

func (m *manifests) addWorkload(w workload, selector *metav1.LabelSelector) error {
	for _, o := range m.workloads {
		if o.kind == w.kind && o.name == w.name {
			return fmt.Errorf("a second %s %s", w.kind, w.name)
		}
	}
	if selector != nil || !w.oneShot {
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil {
			return fmt.Errorf("selector: %w", err)
		}
		if sel.Empty() || !sel.Matches(labels.Set(w.podLabels)) {
			return fmt.Errorf("selector %v does not select its own pod labels %v", sel, w.podLabels)
		}
	}
	m.workloads = append(m.workloads, w)
	return nil
}

func (m *manifests) checkWorkload(t *testing.T, w workload) {
	t.Helper()
	if w.oneShot && w.pod.RestartPolicy != corev1.RestartPolicyOnFailure && w.pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: restartPolicy %q; a Job needs OnFailure or Never", w, w.pod.RestartPolicy)
	}
	for _, v := range w.pod.Volumes {
		switch {
		case v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil:
			t.Errorf("%s: volume %s: no ConfigMap %s", w, v.Name, v.ConfigMap.Name)
		case v.Secret != nil && m.secrets[v.Secret.SecretName] == nil:
			t.Errorf("%s: volume %s: no Secret %s", w, v.Name, v.Secret.SecretName)
		}
	}
}

// container checks what the API types cannot and returns what the binary
// must agree with.
func (m *manifests) container(t *testing.T, w workload, c corev1.Container, images map[string]bool) container {
	t.Helper()
	where := w.String() + " container " + c.Name
	binary := imageBinary(c.Image)
	if binary == "" {
		t.Errorf("%s: image %q is not %s<binary>", where, c.Image, imagePrefix)
	}
	if !images[c.Image] {
		t.Errorf("%s: image %q has no entry in kustomization.yaml's images, so it cannot be pointed at a registry", where, c.Image)
	}
	if len(c.Command) > 0 {
		t.Errorf("%s: command %v replaces the image's entrypoint, which is the binary", where, c.Command)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			t.Errorf("%s: no %s request", where, res)
		}
		if _, ok := c.Resources.Limits[res]; !ok {
			t.Errorf("%s: no %s limit", where, res)
		}
	}
	out := container{Where: where, Binary: binary, Args: c.Args, Env: m.env(t, where, w, c)}
	for _, p := range c.Ports {
		out.Ports = append(out.Ports, int(p.ContainerPort))
	}
	for _, vm := range c.VolumeMounts {
		out.Mounts = append(out.Mounts, vm.MountPath)
	}
	for kind, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil {
			if !w.oneShot && kind != "startup" {
				t.Errorf("%s: no %s probe", where, kind)
			}
			continue
		}
		pr, err := probeOf(kind, p, c)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		out.Probes = append(out.Probes, pr)
	}
	slices.SortFunc(out.Probes, func(a, b probe) int { return strings.Compare(a.Kind, b.Kind) })
	return out
}

// env resolves the container's environment as the kubelet would, from the
// ConfigMaps and the example Secret.
func (m *manifests) env(t *testing.T, where string, w workload, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm := m.configMaps[ef.ConfigMapRef.Name]
			if cm == nil {
				t.Errorf("%s: envFrom: no ConfigMap %s", where, ef.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[ef.Prefix+k] = v
				m.used["ConfigMap/"+cm.Name+"/"+k] = true
			}
		case ef.SecretRef != nil:
			s := m.secrets[ef.SecretRef.Name]
			if s == nil {
				t.Errorf("%s: envFrom: no Secret %s", where, ef.SecretRef.Name)
				continue
			}
			for _, k := range secretKeys(s) {
				env[ef.Prefix+k], _ = secretValue(s, k)
				m.used["Secret/"+s.Name+"/"+k] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, e := range c.Env {
		if seen[e.Name] {
			t.Errorf("%s: %s is set twice", where, e.Name)
		}
		seen[e.Name] = true
		vf := e.ValueFrom
		switch {
		case vf == nil:
			env[e.Name] = e.Value
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			s := m.secrets[ref.Name]
			v, ok := "", false
			if s != nil {
				v, ok = secretValue(s, ref.Key)
			}
			m.used["Secret/"+ref.Name+"/"+ref.Key] = true
			switch {
			case ok:
				env[e.Name] = v
			case ref.Optional == nil || !*ref.Optional:
				t.Errorf("%s: %s: Secret %s has no key %s (see %s)", where, e.Name, ref.Name, ref.Key, exampleSecret)
			}
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			cm := m.configMaps[ref.Name]
			v, ok := "", false
			if cm != nil {
				v, ok = cm.Data[ref.Key]
			}
			m.used["ConfigMap/"+ref.Name+"/"+ref.Key] = true
			switch {
			case ok:
				env[e.Name] = v
			case ref.Optional == nil || !*ref.Optional:
				t.Errorf("%s: %s: ConfigMap %s has no key %s", where, e.Name, ref.Name, ref.Key)
			}
		case vf.FieldRef != nil:
			switch vf.FieldRef.FieldPath {
			case "metadata.name":
				env[e.Name] = w.name + "-0"
			case "metadata.namespace":
				env[e.Name] = "herald"
			default:
				t.Errorf("%s: %s: fieldRef %s is not one this test resolves", where, e.Name, vf.FieldRef.FieldPath)
			}
		case vf.ResourceFieldRef != nil:
			ref := vf.ResourceFieldRef
			kind, name, _ := strings.Cut(ref.Resource, ".")
			list := map[string]corev1.ResourceList{"limits": c.Resources.Limits, "requests": c.Resources.Requests}[kind]
			q, ok := list[corev1.ResourceName(name)]
			if !ok {
				t.Errorf("%s: %s: the container sets no %s", where, e.Name, ref.Resource)
				continue
			}
			if !ref.Divisor.IsZero() {
				t.Errorf("%s: %s: a divisor is not one this test resolves", where, e.Name)
			}
			env[e.Name] = strconv.FormatInt(q.Value(), 10)
		default:
			t.Errorf("%s: %s: valueFrom that this test does not resolve", where, e.Name)
		}
	}
	return env
}

func secretKeys(s *corev1.Secret) []string {
	keys := slices.Collect(maps.Keys(s.StringData))
	for k := range s.Data {
		if _, ok := s.StringData[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func secretValue(s *corev1.Secret, key string) (string, bool) {
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	v, ok := s.Data[key]
	return string(v), ok
}

// probeOf reads an HTTP GET or TCP probe; the images hold the binary alone,
// so an exec probe has nothing to run.
func probeOf(kind string, p *corev1.Probe, c corev1.Container) (probe, error) {
	port := func(ip intstr.IntOrString) (int, error) {
		if ip.Type == intstr.Int {
			return ip.IntValue(), nil
		}
		for _, cp := range c.Ports {
			if cp.Name == ip.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
		return 0, fmt.Errorf("%s probe: no container port named %q", kind, ip.StrVal)
	}
	switch {
	case p.HTTPGet != nil:
		n, err := port(p.HTTPGet.Port)
		return probe{Kind: kind, Path: p.HTTPGet.Path, Port: n}, err
	case p.TCPSocket != nil:
		n, err := port(p.TCPSocket.Port)
		return probe{Kind: kind, Port: n}, err
	default:
		return probe{}, fmt.Errorf("%s probe: only httpGet and tcpSocket work (the image has no shell or tools)", kind)
	}
}

// checkServices checks that each Service selects pods and targets ports they
// declare, that each PodDisruptionBudget selects pods, and that each
// StatefulSet's governing Service exists. It returns
// where each "service:port" leads: the binary of the pods behind it.
func (m *manifests) checkServices(t *testing.T) map[string]string {
	t.Helper()
	network := map[string]string{}
	names := map[string]bool{}
	for _, ls := range m.services {
		s := ls.obj
		where := ls.file + " Service/" + s.Name
		names[s.Name] = true
		if len(s.Spec.Selector) == 0 {
			t.Errorf("%s: no selector", where)
			continue
		}
		var pods []workload
		for _, w := range m.workloads {
			if !w.oneShot && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.podLabels)) {
				pods = append(pods, w)
			}
		}
		if len(pods) == 0 {
			t.Errorf("%s: selector %v matches no Deployment's or StatefulSet's pods", where, s.Spec.Selector)
		}
		for _, sp := range s.Spec.Ports {
			for _, w := range pods {
				binary, ok := servesPort(w.pod, sp.TargetPort, sp.Port)
				if !ok {
					t.Errorf("%s: port %s targets %s, which %s does not declare", where, sp.Name, sp.TargetPort.String(), w)
					continue
				}
				network[s.Name+":"+strconv.Itoa(int(sp.Port))] = binary
			}
		}
	}
	for _, lb := range m.budgets {
		sel, err := metav1.LabelSelectorAsSelector(lb.obj.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("%s PodDisruptionBudget/%s: selector %v: %v", lb.file, lb.obj.Name, lb.obj.Spec.Selector, err)
			continue
		}
		if !slices.ContainsFunc(m.workloads, func(w workload) bool { return !w.oneShot && sel.Matches(labels.Set(w.podLabels)) }) {
			t.Errorf("%s PodDisruptionBudget/%s: selector %v matches no Deployment's or StatefulSet's pods", lb.file, lb.obj.Name, sel)
		}
	}
	for _, w := range m.workloads {
		if w.kind == "StatefulSet" && !names[w.serviceName] {
			t.Errorf("%s: serviceName %q names no Service", w, w.serviceName)
		}
	}
	return network
}

// servesPort finds the container a Service port leads to and returns the
// binary its image holds.
func servesPort(pod corev1.PodSpec, target intstr.IntOrString, port int32) (string, bool) {
	for _, c := range pod.Containers {
		for _, cp := range c.Ports {
			switch {
			case target.Type == intstr.String && target.StrVal == cp.Name,
				target.Type == intstr.Int && target.IntValue() == int(cp.ContainerPort),
				target.Type == intstr.Int && target.IntVal == 0 && port == cp.ContainerPort:
				return imageBinary(c.Image), true
			}
		}
	}
	return "", false
}

// imageBinary is the binary an image holds: herald-<binary>[:tag][@digest],
// after any registry path ("" when the image is not named so).
func imageBinary(image string) string {
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	image, _, _ = strings.Cut(image, "@")
	image, _, _ = strings.Cut(image, ":")
	name, ok := strings.CutPrefix(image, imagePrefix)
	if !ok {
		return ""
	}
	return name
}

// checkMigrations: a service that leaves migrations to a release step
// (HERALD_DB_MIGRATE=off) needs a container running `<binary> migrate` on
// the same database.
func checkMigrations(t *testing.T, cs []container) {
	t.Helper()
	for _, c := range cs {
		if len(c.Args) > 0 || c.Env["HERALD_DB_MIGRATE"] != "off" {
			continue
		}
		found := slices.ContainsFunc(cs, func(o container) bool {
			return o.Binary == c.Binary && slices.Equal(o.Args, []string{"migrate"}) &&
				o.Env["HERALD_DB_DRIVER"] == c.Env["HERALD_DB_DRIVER"] && o.Env["HERALD_DB_DSN"] == c.Env["HERALD_DB_DSN"]
		})
		if !found {
			t.Errorf("%s: HERALD_DB_MIGRATE=off, but no container runs `%s migrate` on its database", c.Where, c.Binary)
		}
	}
}
