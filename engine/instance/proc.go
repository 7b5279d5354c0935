package instance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/faultline/faultline/engine/engineproc"
	"github.com/faultline/faultline/engine/improto"
	"github.com/faultline/faultline/engine/jsonrpc"
	"github.com/faultline/faultline/engine/nbd"
	"github.com/faultline/faultline/engine/srcaddr"
)

// Bounds on an engine process's life cycle.
const (
	engineStartTimeout = 30 * time.Second
	engineStopTimeout  = 5 * time.Second
	maxSocketPath      = 100 // sun_path holds 108 bytes
)

// proc is one running engine process and the node's connections to it.
type proc struct {
	image   string
	cmd     *exec.Cmd
	ctl     *jsonrpc.Client
	data    *nbd.Client
	sockets []string
	stderr  *tailWriter

	done     chan struct{} // closed when the process has exited
	waitErr  error         // valid after done
	stopping atomic.Bool   // set before a deliberate stop
}

// engineDir is where engine sockets live: <data dir>/engines, or a
// private directory under the system temp dir when that path is too long
// for Unix sockets (decided once, in Start).
func (m *Manager) engineDir() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sockDir
}

// makeEngineDir picks and creates the engine socket directory.
func (m *Manager) makeEngineDir() error {
	dir := filepath.Join(m.opts.DataDir, "engines")
	// Room for "/<pid>-<seq>.ctl.lock".
	if len(dir)+32 > maxSocketPath {
		tmp, err := os.MkdirTemp("", "refengine-"+m.opts.Node+"-")
		if err != nil {
			return fmt.Errorf("engine socket dir: %w", err)
		}
		m.log.Info("data dir path too long for Unix sockets; engine sockets go to a temp dir", "dir", tmp)
		m.mu.Lock()
		m.sockDir, m.tmpSockDir = tmp, true
		m.mu.Unlock()
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("engine socket dir: %w", err)
	}
	m.mu.Lock()
	m.sockDir = dir
	m.mu.Unlock()
	return nil
}

// engineReplica describes a member to an engine process: its export, its
// bitmap's (by convention) and their keys, which every node of the
// cluster derives alike.
func (m *Manager) engineReplica(r improto.EngineReplica) engineproc.Replica {
	r = withBitmap(r)
	return engineproc.Replica{Name: r.Name, Address: r.Address, Export: r.Export, Bitmap: r.Bitmap,
		Key: m.exportKey(r.Export), BitmapKey: m.exportKey(r.Bitmap)}
}

// startProc starts `<image> engine ...` and waits until its control socket
// answers, its activation (a resync after a crash) is done and its NBD
// socket serves the volume. A standby engine (live upgrade) takes no
// writes until activated. The child gets SIGKILL when the node process
// dies (Pdeathsig), so killing a node kills its engines.
func (m *Manager) startProc(ctx context.Context, image, name string, size int64, reps []improto.EngineReplica, standby bool) (*proc, error) {
	m.mu.Lock()
	m.seq++
	id := fmt.Sprintf("%d-%d", os.Getpid(), m.seq)
	m.mu.Unlock()
	ctlPath := filepath.Join(m.engineDir(), id+".ctl")
	nbdPath := filepath.Join(m.engineDir(), id+".nbd")
	if len(ctlPath) > maxSocketPath {
		return nil, fmt.Errorf("engine %s: socket path %s is too long for a Unix socket; use a shorter data dir", name, ctlPath)
	}
	args := []string{"engine", "--name", name, "--size", strconv.FormatInt(size, 10),
		"--control-socket", ctlPath, "--nbd-socket", nbdPath}
	members := make([]engineproc.Replica, len(reps))
	for i, r := range reps {
		er := m.engineReplica(r)
		members[i] = er
		args = append(args, "--replica", er.Name+","+er.Address+","+er.Export+","+er.Bitmap)
	}
	// The keys go through the environment, not the world-readable
	// command line.
	keys, err := engineproc.KeysJSON(members)
	if err != nil {
		return nil, fmt.Errorf("engine %s: %w", name, err)
	}
	if standby {
		args = append(args, "--standby")
	}
	args = append(args, "--defects", strings.Join(m.opts.Defects, ","))
	p := &proc{image: image, sockets: []string{ctlPath, ctlPath + ".lock", nbdPath}, stderr: newTailWriter(os.Stderr, 4096), done: make(chan struct{})}
	p.cmd = exec.Command(image, args...)
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Env = engineEnv(os.Environ(), m.opts, keys)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start engine %s from %s: %w", name, image, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	if err := p.connect(ctx, ctlPath, nbdPath); err != nil {
		p.kill()
		p.removeSockets()
		return nil, fmt.Errorf("start engine %s from %s: %w", name, image, err)
	}
	m.log.Info("engine process started", "engine", name, "pid", p.cmd.Process.Pid, "image", image)
	return p, nil
}

// connect polls the control socket until it answers and the engine is
// ready (or in standby), then opens the data connection. The wait is
// bounded by engineStartTimeout without progress: a resync that keeps
// advancing may take longer.
func (p *proc) connect(ctx context.Context, ctlPath, nbdPath string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(engineStartTimeout)
	var c *jsonrpc.Client
	var last engineproc.Progress
	fail := func(err error) error {
		if c != nil {
			c.Close()
		}
		return err
	}
	for {
		select {
		case <-p.done:
			return fail(fmt.Errorf("engine exited before it was ready (%v): %s", p.waitErr, p.stderr.String()))
		case <-ctx.Done():
			return fail(fmt.Errorf("engine not ready: %w", ctx.Err()))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("engine not ready after %v without progress (resync at %d of %d regions)", engineStartTimeout, last.Done, last.Total))
		}
		if c == nil {
			var err error
			if c, err = jsonrpc.Dial(ctx, "unix", ctlPath); err != nil {
				c = nil
				continue
			}
		}
		var info engineproc.Info
		if err := c.Call(ctx, engineproc.MethodGet, nil, &info); err != nil {
			continue
		}
		if info.State == engineproc.StateActivating {
			if info.Progress != last {
				last, deadline = info.Progress, time.Now().Add(engineStartTimeout)
			}
			continue
		}
		d, err := nbd.Dial(ctx, "unix", nbdPath, engineproc.ExportName)
		if err != nil {
			return fail(fmt.Errorf("open engine data socket: %w", err))
		}
		p.ctl, p.data = c, d
		return nil
	}
}

// info asks the process for its replicas' modes.
func (p *proc) info(ctx context.Context) (engineproc.Info, error) {
	var info engineproc.Info
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := p.ctl.Call(ctx, engineproc.MethodGet, nil, &info)
	return info, err
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill ends the process at once and waits for it.
func (p *proc) kill() {
	p.stopping.Store(true)
	p.cmd.Process.Kill()
	<-p.done
	p.closeConns()
}

func (p *proc) closeConns() {
	if p.ctl != nil {
		p.ctl.Close()
	}
	if p.data != nil {
		p.data.Close()
	}
}

// stop asks the process to flush and exit (SIGTERM), and kills it if it
// does not within engineStopTimeout.
func (p *proc) stop() error {
	p.stopping.Store(true)
	p.closeConns()
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	t := time.NewTimer(engineStopTimeout)
	defer t.Stop()
	var err error
	select {
	case <-p.done:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
		err = fmt.Errorf("engine process %d did not stop within %v and was killed", p.cmd.Process.Pid, engineStopTimeout)
	}
	p.removeSockets()
	return err
}

func (p *proc) removeSockets() {
	for _, s := range p.sockets {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			continue
		}
	}
}

// tailWriter passes writes on and keeps the last bytes for error messages.
type tailWriter struct {
	mu   sync.Mutex
	next interface{ Write([]byte) (int, error) }
	buf  []byte
	max  int
}

func newTailWriter(next interface{ Write([]byte) (int, error) }, max int) *tailWriter {
	return &tailWriter{next: next, max: max}
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = w.buf[len(w.buf)-w.max:]
	}
	w.mu.Unlock()
	return w.next.Write(p)
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// engineEnv is the environment of an engine process: the node's, with the
// source address, the replicas' keys and the CPU budget the node was
// given. Later entries win where the node's own environment has the same
// name.
func engineEnv(base []string, opts Options, keys string) []string {
	env := slices.Clone(base)
	if src := opts.SourceAddress; src != "" {
		env = append(env, srcaddr.Env+"="+src)
	}
	if keys != "" {
		env = append(env, engineproc.KeysEnv+"="+keys)
	}
	if opts.EngineCPUs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(opts.EngineCPUs))
	}
	return env
}
