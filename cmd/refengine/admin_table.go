package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline/faultline/engine/api"
)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// printTable writes resources as aligned columns, one row per object.
func printTable(w io.Writer, v any) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	row := func(cols ...any) {
		s := make([]string, len(cols))
		for i, c := range cols {
			s[i] = fmt.Sprint(c)
			if s[i] == "" {
				s[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(s, "\t"))
	}
	switch x := v.(type) {
	case api.Volume:
		printTable(w, []api.Volume{x})
	case []api.Volume:
		row("NAME", "STATE", "ROBUSTNESS", "SIZE", "REPLICAS", "NODE", "ENDPOINT", "IMAGE")
		for _, v := range x {
			row(v.Name, v.Status.State, v.Status.Robustness, v.Spec.Size, v.Spec.NumberOfReplicas, v.Status.Node, v.Status.Endpoint, v.Status.CurrentImage)
		}
	case api.Node:
		printTable(w, []api.Node{x})
	case []api.Node:
		row("NAME", "STATE", "ADDRESS", "RPC", "NBD", "DISKS", "LAST HEARTBEAT")
		for _, n := range x {
			row(n.Name, n.Status.State, n.Spec.Address, n.Spec.RPCAddress, n.Spec.NBDAddress, len(n.Status.Disks), since(n.Status.LastHeartbeat))
		}
	case api.Replica:
		printTable(w, []api.Replica{x})
	case []api.Replica:
		row("NAME", "VOLUME", "NODE", "DISK", "STATE", "MODE", "REVISION", "FAILED")
		for _, r := range x {
			row(r.Name, r.Spec.Volume, r.Spec.Node, r.Spec.Disk, r.Status.State, r.Status.Mode, r.Status.Revision, since(r.Status.FailedAt))
		}
	case api.Snapshot:
		printTable(w, []api.Snapshot{x})
	case []api.Snapshot:
		row("NAME", "VOLUME", "SNAPSHOT", "STATE", "CREATED", "MESSAGE")
		for _, s := range x {
			row(s.Name, s.Spec.Volume, s.Spec.SnapshotName, s.Status.State, since(s.Status.CreatedAt), s.Status.Message)
		}
	case api.BackingImage:
		printTable(w, []api.BackingImage{x})
	case []api.BackingImage:
		row("NAME", "STATE", "SIZE", "SHA512", "SOURCE")
		for _, b := range x {
			row(b.Name, b.Status.State, b.Status.Size, short(b.Status.SHA512), b.Spec.Source)
		}
	case api.EngineImage:
		printTable(w, []api.EngineImage{x})
	case []api.EngineImage:
		row("NAME", "VERSION", "STATE", "REFS", "BINARY")
		for _, e := range x {
			row(e.Name, e.Spec.Version, e.Status.State, e.Status.RefCount, e.Spec.BinaryPath)
		}
	case api.BackupTarget:
		printTable(w, []api.BackupTarget{x})
	case []api.BackupTarget:
		row("NAME", "URL", "AVAILABLE", "POLL", "LAST SYNC", "CREDENTIAL", "MESSAGE")
		for _, b := range x {
			row(b.Name, b.Spec.URL, b.Status.Available, b.Spec.PollInterval, since(b.Status.LastSyncedAt), credentialSummary(b.Spec.Credential), b.Status.Message)
		}
	case api.Backup:
		printTable(w, []api.Backup{x})
	case []api.Backup:
		row("NAME", "VOLUME", "SNAPSHOT", "STATE", "PROGRESS", "SIZE", "UPLOADED", "TARGET")
		for _, b := range x {
			row(b.Name, b.Spec.Volume, b.Spec.SnapshotName, b.Status.State, fmt.Sprintf("%d%%", b.Status.Progress), b.Status.Size, b.Status.BytesUploaded, b.Spec.BackupTargetName)
		}
	case api.BackupVolume:
		printTable(w, []api.BackupVolume{x})
	case []api.BackupVolume:
		row("NAME", "VOLUME", "TARGET", "LAST-BACKUP", "LAST-BACKUP-AT", "COUNT")
		for _, b := range x {
			row(b.Name, b.Spec.VolumeName, b.Spec.BackupTargetName, b.Status.LastBackupName, since(b.Status.LastBackupAt), b.Status.BackupCount)
		}
	case api.SystemBackup:
		printSystemBackup(w, x)
	case []api.SystemBackup:
		printSystemBackups(w, x)
	case api.SystemRestore:
		printSystemRestore(w, x)
	case []api.SystemRestore:
		printSystemRestores(w, x)
	default: // a system backup's bundle among others: JSON in both formats
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(tw, string(b))
	}
}

func since(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
