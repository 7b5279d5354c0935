package manager

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/engine/api"
)

// Queue keys that are not "volume/<name>".
const (
	keyResync       = "resync"
	keyEngineImages = "engineimages"
	// keyLastBackups queues every volume's lastBackup derivation: on the
	// resync timer only, not on node changes (every heartbeat that
	// changes a disk's free space is one).
	keyLastBackups  = "lastbackups"
	volumeKeyPrefix = "volume/"
	// lastBackupKeyPrefix queues "lastbackup/<volume>": derive the
	// volume's lastBackup from its backup volume (F5).
	lastBackupKeyPrefix = "lastbackup/"
)

// Controller reconciles the store toward the desired state. Work is keyed
// by volume: every committed change to a volume, its replicas, engine or
// snapshots queues that volume; node changes, heartbeat timeouts and a
// periodic resync queue all of them. Attached volumes are re-queued every
// MonitorInterval to poll their engines. Node changes and the resync also
// queue the collection of replicas a node holds that the manager forgot.
// Each backup target is a key of its own on a separate queue with its own
// worker, checked every PollInterval and whenever its spec asks for a sync.
type Controller struct {
	m     *Manager
	log   *slog.Logger
	queue *workQueue
	// targets queues backup target checks apart from the volume work: a
	// target that hangs until the check times out must not hold up a
	// volume's recovery.
	targets *workQueue
	// backups queues Backup and BackupVolume work (node polls, target
	// reads, deletions with garbage collection).
	backups *workQueue
	// system queues system backups and restores, which wait on backups
	// and volumes for minutes.
	system *workQueue

	// starts keeps new replicas off disks that just refused a replica
	// start.
	starts *startBackoff

	mu       sync.Mutex
	failures map[string]int // key → consecutive failures, for backoff
	// restartRetry holds, per replica, when an in-place restart that its
	// node did not answer may be tried again (restartFailed).
	restartRetry map[string]time.Time
}

func newController(m *Manager) *Controller {
	return &Controller{m: m, log: m.log.With("loop", "controller"), queue: newWorkQueue(), targets: newWorkQueue(), backups: newWorkQueue(), system: newWorkQueue(), starts: newStartBackoff(time.Now), failures: map[string]int{}, restartRetry: map[string]time.Time{}}
}

// onEvents maps committed changes to queue keys.
func (c *Controller) onEvents(evs []api.Event) {
	for _, ev := range evs {
		switch ev.Kind {
		case api.KindVolume:
			c.queue.Add(volumeKeyPrefix + ev.Name)
			c.queue.Add(consumersKeyPrefix + ev.Name)
			c.queue.Add(keyEngineImages)
			if ev.Type == api.EventCreated {
				c.queue.Add(lastBackupKeyPrefix + ev.Name) // its target may hold backups of its name
			}
		case api.KindReplica, api.KindEngine, api.KindSnapshot:
			var obj struct {
				Spec struct {
					Volume string `json:"volume"`
				} `json:"spec"`
			}
			if json.Unmarshal(ev.Object, &obj) == nil && obj.Spec.Volume != "" {
				c.queue.Add(volumeKeyPrefix + obj.Spec.Volume)
			}
		case api.KindNode:
			c.queue.Add(keyResync)
			c.queue.Add(gcKeyPrefix + ev.Name)
		case api.KindEngineImage:
			c.queue.Add(keyEngineImages)
		case api.KindBackupTarget:
			if ev.Type != api.EventDeleted {
				c.targets.Add(backupTargetKeyPrefix + ev.Name)
			}
		case api.KindBackup:
			if ev.Type != api.EventDeleted {
				c.backups.Add(backupKeyPrefix + ev.Name)
			}
			// A system backup waiting on this backup looks at once.
			var obj struct {
				Spec api.BackupSpec `json:"spec"`
			}
			if json.Unmarshal(ev.Object, &obj) == nil && obj.Spec.Labels[api.SystemBackupLabel] != "" {
				c.system.Add(systemBackupKeyPrefix + obj.Spec.Labels[api.SystemBackupLabel])
			}
		case api.KindSystemBackup:
			if ev.Type != api.EventDeleted {
				c.system.Add(systemBackupKeyPrefix + ev.Name)
			}
		case api.KindSystemRestore:
			if ev.Type != api.EventDeleted {
				c.system.Add(systemRestoreKeyPrefix + ev.Name)
			}
		case api.KindBackupVolume:
			if ev.Type != api.EventDeleted {
				c.backups.Add(backupVolumeKeyPrefix + ev.Name)
			}
			// F5: the volume the backup volume belongs to (by its spec's
			// volume name, which differs from the backup volume's name),
			// and the DR volumes following it on the same target.
			var obj struct {
				Spec api.BackupVolumeSpec `json:"spec"`
			}
			if json.Unmarshal(ev.Object, &obj) == nil && obj.Spec.VolumeName != "" {
				vol := obj.Spec.VolumeName
				if c.m.usesDefect(DefectSysbackupStaleLastBackup) {
					vol = ev.Name // seed 001's pre-fix key: no volume has this name
				}
				c.queue.Add(lastBackupKeyPrefix + vol)
				c.queue.Add(drVolumesKeyPrefix + obj.Spec.BackupTargetName + "/" + obj.Spec.VolumeName)
			}
		case api.KindConsumer:
			var obj struct {
				Spec api.ConsumerSpec `json:"spec"`
			}
			if json.Unmarshal(ev.Object, &obj) == nil && obj.Spec.Volume != "" {
				c.queue.Add(consumersKeyPrefix + obj.Spec.Volume)
			}
		case api.KindBackingImage:
			if ev.Type == api.EventDeleted {
				c.queue.Add(keyResync) // which collects every node's copies
			}
		}
	}
}

// Run runs two volume workers, one backup target worker, one backup
// worker, one system backup and restore worker, the node
// liveness check and the periodic resync until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, q := range []*workQueue{c.queue, c.queue, c.targets, c.backups, c.system} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.worker(ctx, q)
		}()
	}
	c.queue.Add(keyResync)
	c.queue.Add(keyLastBackups)
	c.queue.Add(keyEngineImages)

	livenessEvery := c.m.cfg.NodeTimeout / 5
	if livenessEvery < 50*time.Millisecond {
		livenessEvery = 50 * time.Millisecond
	}
	liveness := time.NewTicker(livenessEvery)
	resync := time.NewTicker(c.m.cfg.ResyncInterval)
	defer liveness.Stop()
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			c.queue.ShutDown()
			c.targets.ShutDown()
			c.backups.ShutDown()
			c.system.ShutDown()
			wg.Wait()
			return nil
		case <-liveness.C:
			if err := c.checkNodes(); err != nil {
				c.log.Error("node liveness", "err", err)
			}
		case <-resync.C:
			c.queue.Add(keyResync)
			c.queue.Add(keyLastBackups)
		}
	}
}

func (c *Controller) worker(ctx context.Context, q *workQueue) {
	for {
		key, ok := q.Get()
		if !ok {
			return
		}
		err := c.process(ctx, key)
		q.Done(key)
		c.mu.Lock()
		if err != nil {
			c.failures[key]++
			n := c.failures[key]
			c.mu.Unlock()
			delay := backoff(n)
			if ctx.Err() == nil {
				c.log.Warn("reconcile failed", "key", key, "attempt", n, "retry_in", delay, "err", err)
			}
			q.AddAfter(key, delay)
			continue
		}
		delete(c.failures, key)
		c.mu.Unlock()
	}
}

// maxBackoff is short because the usual cause of a failed reconcile is a
// node process restarting, and recovery time is what users measure.
const maxBackoff = 2 * time.Second

// backoff doubles from 100ms up to maxBackoff.
func backoff(failures int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

func (c *Controller) process(ctx context.Context, key string) error {
	switch {
	case key == keyResync:
		var vols []api.Volume
		var nodes []api.Node
		err := c.m.store.View(func(tx *Tx) error {
			var err error
			if vols, err = list[api.Volume](tx, api.KindVolume, nil); err != nil {
				return err
			}
			if nodes, err = list[api.Node](tx, api.KindNode, nil); err != nil {
				return err
			}
			if err := c.queueBackupTargets(tx); err != nil {
				return err
			}
			if err := c.queueBackupWork(tx); err != nil {
				return err
			}
			return c.queueSystemWork(tx)
		})
		for _, v := range vols {
			c.queue.Add(volumeKeyPrefix + v.Name)
			c.queue.Add(consumersKeyPrefix + v.Name)
		}
		for _, n := range nodes {
			c.queue.Add(gcKeyPrefix + n.Name)
		}
		return err
	case key == keyLastBackups:
		return c.m.store.View(func(tx *Tx) error {
			vols, err := list[api.Volume](tx, api.KindVolume, nil)
			for _, v := range vols {
				c.queue.Add(lastBackupKeyPrefix + v.Name)
			}
			return err
		})
	case key == keyEngineImages:
		return c.reconcileEngineImages()
	case strings.HasPrefix(key, backupKeyPrefix):
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		return c.reconcileBackup(ctx, strings.TrimPrefix(key, backupKeyPrefix))
	case strings.HasPrefix(key, backupVolumeKeyPrefix):
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return c.syncBackupVolume(ctx, strings.TrimPrefix(key, backupVolumeKeyPrefix))
	case strings.HasPrefix(key, systemBackupKeyPrefix):
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		return c.reconcileSystemBackup(ctx, strings.TrimPrefix(key, systemBackupKeyPrefix))
	case strings.HasPrefix(key, systemRestoreKeyPrefix):
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		return c.reconcileSystemRestore(ctx, strings.TrimPrefix(key, systemRestoreKeyPrefix))
	case strings.HasPrefix(key, lastBackupKeyPrefix):
		return c.reconcileLastBackup(strings.TrimPrefix(key, lastBackupKeyPrefix))
	case strings.HasPrefix(key, drVolumesKeyPrefix):
		target, volume, _ := strings.Cut(strings.TrimPrefix(key, drVolumesKeyPrefix), "/")
		return c.queueDRVolumes(target, volume)
	case strings.HasPrefix(key, backupTargetKeyPrefix):
		return c.syncBackupTarget(ctx, strings.TrimPrefix(key, backupTargetKeyPrefix))
	case strings.HasPrefix(key, gcKeyPrefix):
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return c.collectOrphans(ctx, strings.TrimPrefix(key, gcKeyPrefix))
	case strings.HasPrefix(key, consumersKeyPrefix):
		return c.reconcileConsumers(strings.TrimPrefix(key, consumersKeyPrefix))
	case strings.HasPrefix(key, volumeKeyPrefix):
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return c.reconcileVolume(ctx, strings.TrimPrefix(key, volumeKeyPrefix))
	}
	return nil
}

// checkNodes marks nodes down whose last heartbeat is older than the node
// timeout. A node comes back up with its next heartbeat.
func (c *Controller) checkNodes() error {
	now := time.Now()
	var stale []string
	err := c.m.store.View(func(tx *Tx) error {
		nodes, err := list[api.Node](tx, api.KindNode, nil)
		for _, n := range nodes {
			if n.Status.State == api.NodeUp && now.Sub(c.m.beats.lastSeen(n.Name)) > c.m.cfg.NodeTimeout {
				stale = append(stale, n.Name)
			}
		}
		return err
	})
	if err != nil || len(stale) == 0 {
		return err
	}
	return c.m.store.Update(func(tx *Tx) error {
		for _, name := range stale {
			n, ok, err := get[api.Node](tx, api.KindNode, name)
			if err != nil {
				return err
			}
			// Re-check inside the transaction: a heartbeat may have won.
			if !ok || n.Status.State != api.NodeUp || time.Since(c.m.beats.lastSeen(name)) <= c.m.cfg.NodeTimeout {
				continue
			}
			n.Status.State = api.NodeDown
			c.log.Warn("node missed heartbeats", "node", name, "timeout", c.m.cfg.NodeTimeout)
			if err := tx.Put(api.KindNode, name, n); err != nil {
				return err
			}
		}
		return nil
	})
}

// reconcileEngineImages keeps each engine image's reference count equal to
// the number of volumes that name it in spec or status.
func (c *Controller) reconcileEngineImages() error {
	return c.m.store.Update(func(tx *Tx) error {
		vols, err := list[api.Volume](tx, api.KindVolume, nil)
		if err != nil {
			return err
		}
		imgs, err := list[api.EngineImage](tx, api.KindEngineImage, nil)
		if err != nil {
			return err
		}
		for _, ei := range imgs {
			n := 0
			for _, v := range vols {
				if v.Spec.EngineImage == ei.Name || v.Status.CurrentImage == ei.Name {
					n++
				}
			}
			if ei.Status.RefCount != n {
				ei.Status.RefCount = n
				if err := tx.Put(api.KindEngineImage, ei.Name, ei); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
