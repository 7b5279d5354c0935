package instance

// RestoreSnapshot exposes the restore snapshot's naming to the external
// tests, which look for it on disk.
func RestoreSnapshot(replica, backup string) string { return restoreSnapshot(replica, backup) }
