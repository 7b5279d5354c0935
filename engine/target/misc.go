package target

import (
	"bytes"
	"context"
	"encoding/json"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faultline/faultline/engine/jsonrpc"
)

// This file serves the cheap housekeeping methods Longhorn calls: I/O
// statistics, QoS limits, log flags and levels, and examine. Their replies
// follow SPDK v24.09 (lib/bdev/bdev_rpc.c, lib/event/log_rpc.c,
// lib/log/log_flags.c); what refengine does not do (count I/O, enforce
// rate limits, log by SPDK component) is reported but has no effect.

// logComponents are the log flags log_get_flags lists: the components
// registered (SPDK_LOG_REGISTER_COMPONENT) by the libraries and modules a
// default Linux spdk_tgt links, sorted case-insensitively as
// spdk_log_register_flag keeps them.
var logComponents = []string{
	"accel", "aio", "app_config", "app_rpc", "bdev", "bdev_concat", "bdev_malloc", "bdev_null",
	"bdev_nvme", "bdev_raid", "bdev_raid0", "bdev_raid1", "bdev_raid_sb", "blob", "blob_esnap",
	"blob_rw", "blobfs", "blobfs_bdev", "blobfs_bdev_rpc", "blobfs_rw", "ftl_core", "ftl_init",
	"gpt_parse", "idxd", "ioat", "iscsi", "iscsi_init", "json_util", "keyring", "log_rpc", "lvol",
	"lvol_rpc", "nbd", "notify_rpc", "nvme", "nvme_auth", "nvmf", "nvmf_auth", "nvmf_tcp", "opal",
	"reactor", "rpc", "rpc_client", "scsi", "sock", "sock_posix", "thread", "trace", "vbdev_delay",
	"vbdev_gpt", "vbdev_lvol", "vbdev_opal", "vbdev_passthru", "vbdev_split", "vbdev_zone_block",
	"vhost", "vhost_blk", "vhost_blk_data", "vhost_ring", "vhost_rpc", "vhost_scsi",
	"vhost_scsi_data", "vhost_scsi_queue", "virtio", "virtio_blk", "virtio_dev", "virtio_pci",
	"virtio_user", "vmd",
}

// logLevels are SPDK's level names, most to least severe.
var logLevels = []string{"ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"}

// logState is what the log methods set; it changes nothing refengine logs.
type logState struct {
	mu         sync.Mutex
	flags      map[string]bool
	level      string
	printLevel string
}

// newLogState starts as spdk_tgt does (lib/event/app.c: level NOTICE,
// print level INFO, no flag enabled).
func newLogState() *logState {
	return &logState{flags: map[string]bool{}, level: "NOTICE", printLevel: "INFO"}
}

// set enables or disables the flags matching pattern: "all", or a glob
// matched without regard to case (spdk_log_set_flag). No match is EINVAL.
func (l *logState) set(pattern string, on bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if strings.EqualFold(pattern, "all") {
		for _, c := range logComponents {
			l.flags[c] = on
		}
		return true
	}
	matched := false
	for _, c := range logComponents {
		if ok, err := path.Match(strings.ToLower(pattern), c); err == nil && ok {
			l.flags[c] = on
			matched = true
		}
	}
	return matched
}

type logFlagParams struct {
	Flag string `json:"flag"`
}

type logLevelParams struct {
	Level string `json:"level"`
}

type iostatParams struct {
	Name       string `json:"name"`
	PerChannel bool   `json:"per_channel"`
}

// qosParams holds pointers so that an absent limit stays undefined.
type qosParams struct {
	Name           string  `json:"name"`
	RWIOsPerSec    *uint64 `json:"rw_ios_per_sec"`
	RWMBytesPerSec *uint64 `json:"rw_mbytes_per_sec"`
	RMBytesPerSec  *uint64 `json:"r_mbytes_per_sec"`
	WMBytesPerSec  *uint64 `json:"w_mbytes_per_sec"`
}

// qosLimits are a bdev's assigned_rate_limits, as reported.
type qosLimits struct {
	RWIOsPerSec, RWMBytesPerSec, RMBytesPerSec, WMBytesPerSec uint64
}

func (q qosLimits) report() map[string]uint64 {
	return map[string]uint64{
		"rw_ios_per_sec": q.RWIOsPerSec, "rw_mbytes_per_sec": q.RWMBytesPerSec,
		"r_mbytes_per_sec": q.RMBytesPerSec, "w_mbytes_per_sec": q.WMBytesPerSec,
	}
}

// noParams answers any params with SPDK's "<method> requires no
// parameters" (-32602).
func noParams(name string, fn func() any) jsonrpc.Handler {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		if !jsonrpc.NoParams(raw) {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: name + " requires no parameters"}
		}
		return fn(), nil
	}
}

func (t *Target) miscHandlers(m map[string]jsonrpc.Handler) {
	logs := newLogState()
	setLevel := func(dst *string) jsonrpc.Handler {
		return unlocked(decodeLvol, req("level"), func(ctx context.Context, p *logLevelParams) (any, error) {
			i := slices.IndexFunc(logLevels, func(l string) bool { return strings.EqualFold(l, p.Level) })
			if i < 0 {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid log level"}
			}
			logs.mu.Lock()
			*dst = logLevels[i]
			logs.mu.Unlock()
			return true, nil
		})
	}
	getLevel := func(name string, src *string) jsonrpc.Handler {
		return noParams(name, func() any { logs.mu.Lock(); defer logs.mu.Unlock(); return *src })
	}
	m["log_set_level"] = setLevel(&logs.level)
	m["log_get_level"] = getLevel("log_get_level", &logs.level)
	m["log_set_print_level"] = setLevel(&logs.printLevel)
	m["log_get_print_level"] = getLevel("log_get_print_level", &logs.printLevel)
	for name, on := range map[string]bool{"log_set_flag": true, "log_clear_flag": false} {
		m[name] = unlocked(decodeLvol, req("flag"), func(ctx context.Context, p *logFlagParams) (any, error) {
			if !logs.set(p.Flag, on) {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid log flag"}
			}
			return true, nil
		})
	}
	m["log_get_flags"] = noParams("log_get_flags", func() any {
		// An object in SPDK's (sorted) order.
		logs.mu.Lock()
		defer logs.mu.Unlock()
		var b bytes.Buffer
		b.WriteByte('{')
		for i, c := range logComponents {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(c)
			v, _ := json.Marshal(logs.flags[c])
			b.Write(k)
			b.WriteByte(':')
			b.Write(v)
		}
		b.WriteByte('}')
		return json.RawMessage(b.Bytes())
	})

	// Examine is automatic in refengine as in a default SPDK, which then
	// refuses a manual examine (lib/bdev/bdev.c spdk_bdev_examine: -EINVAL;
	// its decode failure is -32602).
	m["bdev_wait_for_examine"] = noParams("bdev_wait_for_examine", func() any { return true })
	m["bdev_examine"] = unlocked(jsonrpc.CodeInvalidParams, req("name"), func(ctx context.Context, p *nameParams) (any, error) {
		return nil, errInval
	})

	start := time.Now()
	m["bdev_get_iostat"] = method(t, decodeLvol, nil, func(ctx context.Context, p *iostatParams) (any, error) {
		if p.PerChannel && p.Name == "" {
			return nil, errInval
		}
		out := map[string]any{"tick_rate": uint64(time.Second), "ticks": uint64(time.Since(start))}
		if p.Name != "" {
			v, ok := t.lookupLocked(p.Name)
			if !ok {
				return nil, errNoDevice
			}
			if p.PerChannel {
				out["name"] = v.name
				// SPDK lists the I/O channels its threads opened on the
				// bdev (lib/bdev/bdev_rpc.c, spdk_bdev_for_each_channel);
				// refengine counts no I/O per bdev, so it answers as SPDK
				// does for a bdev no thread has done I/O to: none.
				out["channels"] = []map[string]any{}
				return out, nil
			}
			out["bdevs"] = []map[string]any{ioStat(map[string]any{"name": v.name})}
			return out, nil
		}
		bdevs := []map[string]any{}
		for _, v := range t.listLocked() {
			bdevs = append(bdevs, ioStat(map[string]any{"name": v.name}))
		}
		out["bdevs"] = bdevs
		return out, nil
	})

	m["bdev_set_qos_limit"] = method(t, decodeLvol, req("name"), func(ctx context.Context, p *qosParams) (any, error) {
		v, ok := t.lookupLocked(p.Name)
		if !ok {
			return nil, errNoDevice
		}
		if p.RWIOsPerSec == nil && p.RWMBytesPerSec == nil && p.RMBytesPerSec == nil && p.WMBytesPerSec == nil {
			return nil, &jsonrpc.Error{Code: -int(syscall.EINVAL), Message: "No rate limits specified"}
		}
		q := t.qos[v.uuid]
		if p.RWIOsPerSec != nil {
			// Rounded up to a multiple of 1000 I/Os per second.
			q.RWIOsPerSec = *p.RWIOsPerSec
			if r := q.RWIOsPerSec % 1000; r != 0 {
				q.RWIOsPerSec += 1000 - r
			}
		}
		const maxMBytes = ^uint64(0) / (1 << 20)
		for _, l := range []struct {
			in  *uint64
			out *uint64
		}{{p.RWMBytesPerSec, &q.RWMBytesPerSec}, {p.RMBytesPerSec, &q.RMBytesPerSec}, {p.WMBytesPerSec, &q.WMBytesPerSec}} {
			if l.in != nil {
				*l.out = min(*l.in, maxMBytes)
			}
		}
		if q == (qosLimits{}) {
			delete(t.qos, v.uuid)
		} else {
			t.qos[v.uuid] = q
		}
		return true, nil
	})
}

// ioStat adds spdk_bdev_dump_io_stat_json's counters, all zero: refengine
// does not count I/O per bdev.
func ioStat(m map[string]any) map[string]any {
	for _, k := range []string{
		"bytes_read", "num_read_ops", "bytes_written", "num_write_ops", "bytes_unmapped", "num_unmap_ops",
		"bytes_copied", "num_copy_ops", "read_latency_ticks", "max_read_latency_ticks", "min_read_latency_ticks",
		"write_latency_ticks", "max_write_latency_ticks", "min_write_latency_ticks", "unmap_latency_ticks",
		"max_unmap_latency_ticks", "min_unmap_latency_ticks", "copy_latency_ticks", "max_copy_latency_ticks",
		"min_copy_latency_ticks",
	} {
		m[k] = uint64(0)
	}
	return m
}

// pruneQoSLocked forgets the limits of bdevs that are gone: SPDK's go with
// their bdev.
func (t *Target) pruneQoSLocked() {
	for id := range t.qos {
		if _, ok := t.lookupLocked(id); !ok {
			delete(t.qos, id)
		}
	}
}
