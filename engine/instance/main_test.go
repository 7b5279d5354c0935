package instance_test

import (
	"os"
	"testing"

	"github.com/faultline/faultline/internal/gobuild"
	"github.com/faultline/faultline/internal/testtool"
)

// refengineBin is the refengine binary TestMain builds for the tests that
// run real manager, node and engine processes; empty under -short.
var refengineBin string

func TestMain(m *testing.M) {
	os.Exit(testtool.Main(m, gobuild.Refengine, &refengineBin))
}
