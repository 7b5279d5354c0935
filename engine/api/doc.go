// Package api holds the resource types of the refengine control plane, the
// request bodies of its REST API and the validation rules they must pass.
//
// The framework talks to refengine only through these types (and the client
// in engine/client), so they are deliberately plain: JSON-tagged structs with
// a Spec (what is wanted) and a Status (what the manager observed).
package api
