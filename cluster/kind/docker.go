package kind

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// fullCapBnd is the bounding set of a host that grants every capability Docker asks for.
const fullCapBnd = 0x1ffffffffff

// hostCanRunKind fails when kind's privileged node containers cannot start here: the capability
// bounding set lacks a capability and Docker's default runtime is not the runc-capfix wrapper.
// The fix changes Docker host-wide, so it is a separate, explicit step (make kind-host-setup).
func hostCanRunKind(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("kind: docker is not installed: %w", err)
	}
	out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.DefaultRuntime}}").Output()
	if err != nil {
		return fmt.Errorf("kind: docker info: %w (is the Docker daemon running?)", err)
	}
	runtime := strings.TrimSpace(string(out))
	bnd, err := capBnd()
	if err != nil || bnd&fullCapBnd == fullCapBnd || runtime == "runc-capfix" {
		return nil
	}
	return fmt.Errorf("kind: this host's capability bounding set is %x, which lacks capabilities Docker gives privileged containers, "+
		"and Docker's default runtime is %q: kind nodes would fail with \"unable to apply caps\". "+
		"Run `make kind-host-setup` once (it makes a runc wrapper Docker's default runtime, host-wide; undo with `make kind-host-restore`)", bnd, runtime)
}

func capBnd() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd in /proc/self/status")
}

// docker runs a docker command and returns its trimmed output, or an error carrying its stderr.
func docker(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// mappedPort is the host port Docker maps a node container's TCP port to.
func mappedPort(ctx context.Context, container string, port int) (int, error) {
	out, err := docker(ctx, "port", container, strconv.Itoa(port)+"/tcp")
	if err != nil {
		return 0, fmt.Errorf("kind: manager port: %w", err)
	}
	line, _, _ := strings.Cut(out, "\n")
	i := strings.LastIndexByte(line, ':')
	p, err := strconv.Atoi(line[i+1:])
	if i < 0 || err != nil {
		return 0, fmt.Errorf("kind: manager port: cannot parse %q", out)
	}
	return p, nil
}

// containerRunning reports whether a node's container runs.
func containerRunning(ctx context.Context, name string) (bool, error) {
	out, err := docker(ctx, "inspect", "--format", "{{.State.Running}}", name)
	if err != nil {
		return false, err
	}
	return out == "true", nil
}
