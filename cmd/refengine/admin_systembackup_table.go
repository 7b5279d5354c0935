package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/faultline/faultline/engine/api"
)

// tableRows writes rows as aligned columns; an empty cell shows as "-".
func tableRows(w io.Writer, rows [][]any) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	for _, cols := range rows {
		s := make([]string, len(cols))
		for i, c := range cols {
			if s[i] = fmt.Sprint(c); s[i] == "" {
				s[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(s, "\t"))
	}
}

// printSystemBackups is the table of system backups, one row each.
func printSystemBackups(w io.Writer, bs []api.SystemBackup) {
	rows := [][]any{{"NAME", "POLICY", "STATE", "VOLUMES", "VERSION", "CREATED", "ERROR"}}
	for _, b := range bs {
		state := b.Status.State
		if b.Spec.Deleting {
			state += "(deleting)"
		}
		rows = append(rows, []any{b.Name, b.Spec.VolumeBackupPolicy, state, len(b.Status.Volumes), b.Status.Version, since(b.Status.CreatedAt), b.Status.Error})
	}
	tableRows(w, rows)
}

// printSystemBackup is one system backup's row, then what it did for each
// volume.
func printSystemBackup(w io.Writer, b api.SystemBackup) {
	printSystemBackups(w, []api.SystemBackup{b})
	if len(b.Status.Volumes) == 0 {
		return
	}
	fmt.Fprintln(w)
	rows := [][]any{{"VOLUME", "TARGET", "BACKUP", "SKIPPED", "MAINTENANCE-NODE", "DETACHED"}}
	for _, v := range b.Status.Volumes {
		detached := ""
		if v.MaintenanceNode != "" {
			detached = fmt.Sprint(v.Detached)
		}
		rows = append(rows, []any{v.Volume, v.BackupTargetName, v.Backup, v.Skipped, v.MaintenanceNode, detached})
	}
	tableRows(w, rows)
}

// printSystemRestores is the table of system restores, one row each.
func printSystemRestores(w io.Writer, rs []api.SystemRestore) {
	rows := [][]any{{"NAME", "SYSTEM-BACKUP", "STATE", "OBJECTS", "STARTED", "COMPLETED", "ERROR"}}
	for _, r := range rs {
		rows = append(rows, []any{r.Name, r.Spec.SystemBackup, r.Status.State, len(r.Status.Objects), since(r.Status.StartedAt), since(r.Status.CompletedAt), r.Status.Error})
	}
	tableRows(w, rows)
}

// printSystemRestore is one system restore's row, then what it did with
// each object of the bundle, in order.
func printSystemRestore(w io.Writer, r api.SystemRestore) {
	printSystemRestores(w, []api.SystemRestore{r})
	if len(r.Status.Objects) == 0 {
		return
	}
	fmt.Fprintln(w)
	rows := [][]any{{"KIND", "NAME", "ACTION", "REASON"}}
	for _, o := range r.Status.Objects {
		rows = append(rows, []any{o.Kind, o.Name, o.Action, o.Reason})
	}
	tableRows(w, rows)
}
