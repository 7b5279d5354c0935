package main

// registerAdmin adds the admin subcommand(s). Placeholder until implemented.
func registerAdmin(cmds map[string]subcommand) {}
