package main

// registerNode adds the node subcommand(s). Placeholder until implemented.
func registerNode(cmds map[string]subcommand) {}
