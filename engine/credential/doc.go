// Package credential is the cluster's shared secret: one random token,
// generated when a cluster is created and handed to the manager and every
// node as a file readable only by them.
//
// The token itself never crosses the network. Holders prove they have it:
// a JSON-RPC client over TCP answers a node's challenge with an HMAC of the
// challenge (engine/jsonrpc), and a replica's NBD export is opened with a
// key derived from the token and the export's name (ExportKey), so that a
// key seen on the wire opens that one export and nothing else. The REST API
// takes the token as a bearer token.
package credential
