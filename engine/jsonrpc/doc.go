// Package jsonrpc is the JSON-RPC 2.0 transport refengine shares with SPDK:
// a stream socket carrying concatenated JSON values with no delimiter, in
// both directions. The server reproduces SPDK's framing, envelope
// validation, error codes and pipelining (replies in completion order, ids
// echoed with their JSON type) so that SPDK's own rpc.py and Longhorn's
// go-spdk-helper can drive refengine unmodified. The client is the Go side
// used by refengine's tests, its manager and the faultline framework.
//
// The wire rules are those of reference/spdk-jsonrpc.md §1–§5.
package jsonrpc
