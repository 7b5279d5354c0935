package main

// registerManager adds the manager subcommand(s). Placeholder until implemented.
func registerManager(cmds map[string]subcommand) {}
