package nbd

// A connection whose client sends one request at a time (a database's
// commit, fio at depth 1) gains nothing from handing each request to a
// worker goroutine: the reader would only wait for the next one. Handing
// it over costs a wake-up of another thread, which on a virtual machine
// is an interrupt to another CPU, on the path of every request. So the
// reader serves such a client's requests itself.
//
// The reader cannot see a second request while it serves one, so it
// looks for signs that the client sends more than one at a time: another
// request in flight or already read when one arrives, or bytes waiting
// on the socket when a request the reader served is done. Any sign makes the
// connection hand requests to workers for the next serialWindow requests.
// A new connection starts as if it had shown such a sign: its client
// proves itself serial over serialWindow requests first, and a client
// that sends many at once is never made to wait behind its first.

// serialWindow is how many requests in a row must arrive alone before
// the reader serves them itself again.
const serialWindow = 64

// serial is the reader's record of whether its client sends requests one
// at a time. Only the reader goroutine uses it.
type serial struct {
	// wait counts the requests still to arrive alone before the reader
	// serves them itself.
	wait int
}

// arrived records a request the reader has just read, with inFlight
// requests (itself included) now in flight and buffered bytes read
// beyond it, and reports whether the reader should serve it itself.
func (s *serial) arrived(inFlight, buffered int) bool {
	if inFlight > 1 || buffered > 0 {
		s.wait = serialWindow
		return false
	}
	if s.wait > 0 {
		s.wait--
		return false
	}
	return true
}

// served records that a request the reader served itself is done, with
// bytes waiting on the socket or not: a client that sent more meanwhile
// is not serial.
func (s *serial) served(waiting bool) {
	if waiting {
		s.wait = serialWindow
	}
}
