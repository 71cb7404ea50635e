package deploy

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeFile loads compose.yaml as Docker Compose would (the
// compose-spec loader: schema validation, interpolation, merge keys) with
// no variable from the host, so the defaults written in the file apply,
// and checks every Herald service against its binary.
func TestComposeFile(t *testing.T) {
	ctx := t.Context()
	details, err := loader.LoadConfigFiles(ctx, []string{"../compose.yaml"}, "..")
	if err != nil {
		t.Fatal(err)
	}
	details.Environment = types.Mapping{}
	project, err := loader.LoadWithContext(ctx, *details)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}

	var cs []container
	hosts := map[string]string{} // container → its service name on compose's network
	for _, name := range slices.Sorted(maps.Keys(project.Services)) {
		svc := project.Services[name]
		if svc.Build == nil {
			continue // infrastructure from its own image
		}
		where := "compose.yaml service " + name
		binary := composeBinary(t, where, svc.Build)
		if len(svc.Entrypoint) > 0 {
			t.Errorf("%s: entrypoint %v replaces the image's, which is the binary", where, svc.Entrypoint)
		}
		c := container{Where: where, Binary: binary, Args: svc.Command, Env: map[string]string{}}
		for k, v := range svc.Environment {
			if v == nil {
				t.Errorf("%s: %s takes its value from the host's environment; give it one in the file", where, k)
				continue
			}
			c.Env[k] = *v
		}
		for _, p := range svc.Ports {
			c.Ports = append(c.Ports, int(p.Target))
		}
		for _, v := range svc.Volumes {
			c.Mounts = append(c.Mounts, v.Target)
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: bind mount source: %v", where, err)
				}
			}
		}
		if hc := svc.HealthCheck; hc != nil && !hc.Disable {
			// The image is distroless: no shell, no HTTP client.
			t.Errorf("%s: healthcheck %v cannot run in the image, which holds the binary alone", where, hc.Test)
		}
		cs = append(cs, c)
		hosts[where] = name
	}
	checkContainers(t, "compose.yaml", cs)
	// On compose's network a service's name reaches its container's ports.
	network := map[string]string{}
	for _, c := range cs {
		if len(c.Args) == 0 && built(t, c.Binary) {
			network[hosts[c.Where]+":"+strconv.Itoa(httpPort(t, c))] = c.Binary
		}
	}
	checkWiring(t, "compose.yaml", cs, network)
}

// composeBinary returns the binary a service's build produces: the
// repository's Dockerfile builds ./cmd/$SERVICE.
func composeBinary(t *testing.T, where string, b *types.BuildConfig) string {
	t.Helper()
	root, _ := filepath.Abs("..")
	if ctxDir, _ := filepath.Abs(b.Context); ctxDir != root {
		t.Errorf("%s: builds from %s, not the repository root", where, b.Context)
	}
	dockerfile := b.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	df, err := os.ReadFile(filepath.Join(root, dockerfile))
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	for _, want := range []string{"ARG SERVICE", "./cmd/$SERVICE", `ENTRYPOINT ["/usr/local/bin/service"]`} {
		if !strings.Contains(string(df), want) {
			t.Fatalf("%s: %s no longer has %s; update this test with it", where, dockerfile, want)
		}
	}
	arg := b.Args["SERVICE"]
	if arg == nil || *arg == "" {
		t.Fatalf("%s: build arg SERVICE is not set", where)
	}
	return *arg
}
