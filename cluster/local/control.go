package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/faultline/faultline/cluster"
)

// The control socket lets a faultline process drive a cluster that another
// process supervises (`faultline cluster up`): HTTP/JSON over a Unix
// socket, loopback-only by construction.
//
//	GET  /status                         cluster.Status
//	GET  /logs                           map process → log path
//	GET  /logs/{process}?lines=N         text
//	POST /nodes/{name}/stop|start|delete-instance-manager
//	POST /nodes/{name}/pause|resume      SIGSTOP / SIGCONT the node's process group
//	POST /engines/{name}/kill            crash one engine instance (SIGKILL)
//	POST /engines/{name}/kill-during-upgrade?node=N&window=D
//	                                     crash it inside its live upgrade's window
//	POST /manager/kill                   SIGKILL the manager; the supervisor restarts it
//	POST /partitions/inject|heal         body cluster.Partition: Partition, HealPartition
//	POST /s3endpoints/{name}?node=NODE   StartS3Endpoint; the answer carries the secret key,
//	                                     which is why the socket is made owner-only (0600)
//	POST /down                           stops the cluster (the supervisor then exits)
//
// The supervisor of `faultline cluster up` mounts the fault routes of
// `faultline fault` too (cmd/faultline/faultctl.go), which keep the set of
// injected faults so that any shell can list and heal them:
//
//	GET  /faults                         the injected faults
//	POST /faults                         body {kind, params, for}: build (package faults'
//	                                     Kinds) and inject one; heal it after "for" if set
//	POST /faults/heal                    body {kind, params, all}: heal the injected
//	                                     faults of kind whose params match, or all

// ControlSocketPath returns where the control socket of a cluster in dir
// lives: inside dir when the path fits in sun_path, else a short temp path.
func ControlSocketPath(dir string) (string, error) {
	p := filepath.Join(dir, "control.sock")
	if len(p) < 100 {
		return p, nil
	}
	tmp, err := os.MkdirTemp("", "faultline-ctl-")
	if err != nil {
		return "", fmt.Errorf("control socket: %w", err)
	}
	return filepath.Join(tmp, "control.sock"), nil
}

// ServeControl serves the control API for d on l until ctx ends. down is
// called (once) when a client asks the cluster to go down. routes mount
// more routes on the same mux (the supervisor's fault routes).
func ServeControl(ctx context.Context, d *Driver, l net.Listener, down func(), routes ...func(*http.ServeMux)) error {
	// Only the owner may connect: the answers carry S3 secret keys.
	if ua, ok := l.Addr().(*net.UnixAddr); ok && ua.Name != "" {
		if err := os.Chmod(ua.Name, 0o600); err != nil {
			return fmt.Errorf("control socket: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st, err := d.Status(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("GET /logs", func(w http.ResponseWriter, r *http.Request) {
		logs, err := d.Logs(r.Context())
		reply(w, logs, err)
	})
	mux.HandleFunc("GET /logs/{process}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("lines"))
		tail, err := d.LogTail(r.PathValue("process"), n)
		reply(w, tail, err)
	})
	mux.HandleFunc("POST /nodes/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		var err error
		switch r.PathValue("action") {
		case "stop":
			err = d.StopNode(r.Context(), name)
		case "start":
			err = d.StartNode(r.Context(), name)
		case "delete-instance-manager":
			err = d.DeleteInstanceManager(r.Context(), name)
		case "pause":
			err = d.PauseNode(r.Context(), name)
		case "resume":
			err = d.ResumeNode(r.Context(), name)
		default:
			http.Error(w, `{"error":"unknown action"}`, http.StatusNotFound)
			return
		}
		reply(w, struct{}{}, err)
	})
	mux.HandleFunc("POST /engines/{name}/kill", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, d.KillEngine(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST /engines/{name}/kill-during-upgrade", func(w http.ResponseWriter, r *http.Request) {
		serveUpgradeCrash(d, w, r)
	})
	mux.HandleFunc("POST /manager/kill", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, d.KillManager(r.Context()))
	})
	mux.HandleFunc("POST /partitions/{op}", func(w http.ResponseWriter, r *http.Request) {
		var p cluster.Partition
		err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&p)
		switch op := r.PathValue("op"); {
		case err != nil:
		case op == "inject":
			err = d.Partition(r.Context(), p)
		case op == "heal":
			err = d.HealPartition(r.Context(), p)
		default:
			err = fmt.Errorf("unknown partition operation %q", op)
		}
		reply(w, struct{}{}, err)
	})
	mux.HandleFunc("POST /s3endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		ep, err := d.StartS3Endpoint(r.Context(), r.PathValue("name"), r.URL.Query().Get("node"))
		if errors.Is(err, cluster.ErrNoS3Server) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotImplemented)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		reply(w, ep, err)
	})
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, nil)
		go down()
	})
	for _, add := range routes {
		add(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, cluster.ErrUnknownNode) {
			code = http.StatusNotFound
		}
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(v)
}

// Remote is a cluster.Driver for a local cluster that another faultline
// process supervises, found through its cluster.json.
type Remote struct {
	dir   string
	state State
	http  *http.Client
}

var (
	_ cluster.Driver      = (*Remote)(nil)
	_ cluster.S3Endpoints = (*Remote)(nil)
)

// Attach finds the cluster whose run directory is dir and checks that its
// supervisor answers.
func Attach(ctx context.Context, dir string) (*Remote, error) {
	st, err := ReadState(dir)
	if err != nil {
		return nil, err
	}
	if !st.Up {
		return nil, fmt.Errorf("cluster in %s is down", dir)
	}
	if st.Control == "" {
		return nil, fmt.Errorf("cluster in %s has no supervisor to control it (start one with `faultline cluster up`)", dir)
	}
	sock := st.Control
	r := &Remote{dir: dir, state: st, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}}
	if _, err := r.Status(ctx); err != nil {
		return nil, fmt.Errorf("cluster in %s: supervisor (pid %d) does not answer: %w", dir, st.Supervisor, err)
	}
	return r, nil
}

func (r *Remote) call(ctx context.Context, method, path string, out any) error {
	return r.callWith(ctx, method, path, nil, out)
}

// Call sends a request with a JSON body (none when in is nil) to a route
// of the control socket and decodes the answer into out (unless nil); a
// non-200 answer is an error with the route's message.
func (r *Remote) Call(ctx context.Context, method, path string, in, out any) error {
	return r.callWith(ctx, method, path, in, out)
}

// callWith is call with a JSON request body (none when in is nil).
func (r *Remote) callWith(ctx context.Context, method, path string, in, out any) error {
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("cluster control %s %s: %w", method, path, err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://cluster"+path, reqBody)
	if err != nil {
		return err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("cluster control %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("cluster control %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		err := errors.New(e.Error)
		switch resp.StatusCode {
		case http.StatusNotFound:
			err = fmt.Errorf("%s: %w", e.Error, cluster.ErrUnknownNode)
		case http.StatusNotImplemented:
			err = fmt.Errorf("%s (%w)", e.Error, cluster.ErrNoS3Server)
		}
		return err
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("cluster control %s %s: decode reply: %w", method, path, err)
		}
	}
	return nil
}

// Up checks that the cluster answers; the supervisor started it already.
func (r *Remote) Up(ctx context.Context) error {
	_, err := r.Status(ctx)
	return err
}

// Down asks the supervisor to stop the cluster and waits until it exits.
func (r *Remote) Down(ctx context.Context) error {
	if err := r.call(ctx, http.MethodPost, "/down", nil); err != nil {
		return err
	}
	return waitGone(ctx, r.state.Supervisor)
}

func (r *Remote) Nodes() []cluster.Node { return append([]cluster.Node(nil), r.state.Nodes...) }
func (r *Remote) ManagerURL() string    { return r.state.ManagerURL }

func (r *Remote) nodeAction(ctx context.Context, name, action string) error {
	return r.call(ctx, http.MethodPost, "/nodes/"+url.PathEscape(name)+"/"+action, nil)
}

func (r *Remote) StopNode(ctx context.Context, name string) error {
	return r.nodeAction(ctx, name, "stop")
}
func (r *Remote) StartNode(ctx context.Context, name string) error {
	return r.nodeAction(ctx, name, "start")
}
func (r *Remote) DeleteInstanceManager(ctx context.Context, name string) error {
	return r.nodeAction(ctx, name, "delete-instance-manager")
}

// PauseNode stalls a node through the supervisor (see Driver.PauseNode).
func (r *Remote) PauseNode(ctx context.Context, name string) error {
	return r.nodeAction(ctx, name, "pause")
}

// ResumeNode resumes a paused node through the supervisor.
func (r *Remote) ResumeNode(ctx context.Context, name string) error {
	return r.nodeAction(ctx, name, "resume")
}

// KillEngine crashes an engine instance through the supervisor.
func (r *Remote) KillEngine(ctx context.Context, engine string) error {
	return r.call(ctx, http.MethodPost, "/engines/"+url.PathEscape(engine)+"/kill", nil)
}

// KillManager kills the manager through the supervisor, which starts a new
// one (see Driver.KillManager).
func (r *Remote) KillManager(ctx context.Context) error {
	return r.call(ctx, http.MethodPost, "/manager/kill", nil)
}

// Partition and HealPartition make and heal a network partition through
// the supervisor (see Driver.Partition).
func (r *Remote) Partition(ctx context.Context, p cluster.Partition) error {
	return r.callWith(ctx, http.MethodPost, "/partitions/inject", p, nil)
}
func (r *Remote) HealPartition(ctx context.Context, p cluster.Partition) error {
	return r.callWith(ctx, http.MethodPost, "/partitions/heal", p, nil)
}

// StartS3Endpoint starts an S3 endpoint through the supervisor (see
// Driver.StartS3Endpoint).
func (r *Remote) StartS3Endpoint(ctx context.Context, name, node string) (cluster.S3Endpoint, error) {
	var ep cluster.S3Endpoint
	err := r.call(ctx, http.MethodPost, "/s3endpoints/"+url.PathEscape(name)+"?node="+url.QueryEscape(node), &ep)
	return ep, err
}

func (r *Remote) Logs(ctx context.Context) (map[string]string, error) {
	var out map[string]string
	err := r.call(ctx, http.MethodGet, "/logs", &out)
	return out, err
}

func (r *Remote) LogTail(process string, n int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out string
	err := r.call(ctx, http.MethodGet, "/logs/"+url.PathEscape(process)+"?lines="+strconv.Itoa(n), &out)
	return out, err
}

func (r *Remote) Status(ctx context.Context) (cluster.Status, error) {
	var st cluster.Status
	err := r.call(ctx, http.MethodGet, "/status", &st)
	return st, err
}

// Alive reports whether pid is a live (not zombie) process.
func Alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ')' {
			return i+2 >= len(s) || s[i+2] != 'Z'
		}
	}
	return true
}

// waitGone polls until pid has exited or ctx ends.
func waitGone(ctx context.Context, pid int) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for Alive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for pid %d to exit: %w", pid, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Teardown stops a cluster from its cluster.json alone: it asks the
// supervisor to go down (SIGTERM) and then SIGKILLs the process group of
// every pid still recorded. Used by `faultline cluster down` and for
// clusters left behind by --keep-cluster.
func Teardown(ctx context.Context, dir string) error {
	st, err := ReadState(dir)
	if err != nil {
		return err
	}
	if st.Supervisor > 0 && st.Supervisor != os.Getpid() && Alive(st.Supervisor) {
		syscall.Kill(st.Supervisor, syscall.SIGTERM)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := waitGone(wctx, st.Supervisor)
		cancel()
		if err != nil {
			syscall.Kill(st.Supervisor, syscall.SIGKILL)
		}
	}
	for _, pid := range st.PIDs {
		if Alive(pid) {
			killGroup(pid, syscall.SIGKILL)
		}
	}
	for name, pid := range st.PIDs {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := waitGone(wctx, pid)
		cancel()
		if err != nil {
			return fmt.Errorf("%s (pid %d) survived SIGKILL: %w", name, pid, err)
		}
	}
	if err := removePartitions(ctx, dir); err != nil {
		return err
	}
	if latest, err := ReadState(dir); err == nil && latest.Up {
		latest.Up, latest.PIDs, latest.Supervisor, latest.Control = false, map[string]int{}, 0, ""
		latest.Updated = time.Now().UTC()
		return writeState(dir, latest)
	}
	return nil
}
