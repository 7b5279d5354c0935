// Package nbd serves bdev.Device exports over the Network Block Device
// protocol (fixed newstyle handshake, simple replies) and provides a client
// that is itself a bdev.Device. Both ends allow many requests in flight on
// one connection; replies come back in completion order.
//
// Only the baseline of the protocol is implemented: no TLS, no structured
// replies, no metadata contexts. Everything else is refused with
// NBD_REP_ERR_UNSUP during the handshake so that clients fall back cleanly.
//
// The protocol has no authentication, so an export may carry an access key
// (ExportOptions.Key) that a client presents inside the name it asks for,
// "NAME?key=KEY" (DialOptions.Key builds it); a client without it is
// refused with NBD_REP_ERR_POLICY before anything is attached.
package nbd

// Handshake magics and flags.
const (
	nbdMagic         uint64 = 0x4e42444d41474943 // "NBDMAGIC"
	optMagic         uint64 = 0x49484156454F5054 // "IHAVEOPT"
	optReplyMagic    uint64 = 0x3e889045565a9
	requestMagic     uint32 = 0x25609513
	simpleReplyMagic uint32 = 0x67446698

	flagFixedNewstyle uint16 = 1 << 0
	flagNoZeroes      uint16 = 1 << 1

	clientFlagFixedNewstyle uint32 = 1 << 0
	clientFlagNoZeroes      uint32 = 1 << 1
)

// Options a client sends during the handshake.
const (
	optExportName      uint32 = 1
	optAbort           uint32 = 2
	optList            uint32 = 3
	optStartTLS        uint32 = 5
	optInfo            uint32 = 6
	optGo              uint32 = 7
	optStructuredReply uint32 = 8
	optListMetaContext uint32 = 9
	optSetMetaContext  uint32 = 10
	optExtendedHeaders uint32 = 11
)

// Option reply types.
const (
	repAck         uint32 = 1
	repServer      uint32 = 2
	repInfo        uint32 = 3
	repErrUnsup    uint32 = 1<<31 + 1
	repErrPolicy   uint32 = 1<<31 + 2
	repErrInvalid  uint32 = 1<<31 + 3
	repErrUnknown  uint32 = 1<<31 + 6
	repErrShutdown uint32 = 1<<31 + 7
	repErrTooBig   uint32 = 1<<31 + 9
)

// Info types in NBD_REP_INFO.
const (
	infoExport      uint16 = 0
	infoName        uint16 = 1
	infoDescription uint16 = 2
	infoBlockSize   uint16 = 3
)

// Message sizes and limits.
const (
	greetingLen           = 18
	optionHeaderLen       = 16
	optionReplyHeaderLen  = 20
	exportNameReplyLen    = 10
	exportNamePaddingLen  = 124
	infoExportReplyLen    = 12
	infoBlockSizeReplyLen = 14
	requestHeaderLen      = 28
	replyHeaderLen        = 16

	maxOptionData              = 64 << 10 // option data we parse
	maxDiscardOption           = 1 << 20  // larger option data closes the connection
	maxStringLen               = 4096     // export names and descriptions
	handshakeInfoRequestsLimit = 64
	maxOutstandingPerConn      = 64

	defaultMinimumBlockSize   = 512
	defaultPreferredBlockSize = 4096
	maxMinimumBlockSize       = 64 << 10
)

// MaxPayload is the largest READ or WRITE payload the server accepts and
// the largest the client sends in one request.
const MaxPayload = 32 << 20

// Transmission flags, as reported by Client.Flags.
const (
	FlagHasFlags          uint16 = 1 << 0
	FlagReadOnly          uint16 = 1 << 1
	FlagSendFlush         uint16 = 1 << 2
	FlagSendFUA           uint16 = 1 << 3
	FlagRotational        uint16 = 1 << 4
	FlagSendTrim          uint16 = 1 << 5
	FlagSendWriteZeroes   uint16 = 1 << 6
	FlagSendDF            uint16 = 1 << 7
	FlagCanMultiConn      uint16 = 1 << 8
	serverTransmitFlags          = FlagHasFlags | FlagSendFlush | FlagSendFUA | FlagSendTrim | FlagSendWriteZeroes | FlagCanMultiConn
	knownCommandFlagsMask        = cmdFlagFUA | cmdFlagNoHole
)

// Commands and command flags.
const (
	cmdRead        uint16 = 0
	cmdWrite       uint16 = 1
	cmdDisc        uint16 = 2
	cmdFlush       uint16 = 3
	cmdTrim        uint16 = 4
	cmdWriteZeroes uint16 = 6

	cmdFlagFUA    uint16 = 1 << 0
	cmdFlagNoHole uint16 = 1 << 1
)

// Error values carried in simple replies.
const (
	errPerm     uint32 = 1
	errIO       uint32 = 5
	errNoMem    uint32 = 12
	errInval    uint32 = 22
	errNoSpc    uint32 = 28
	errOverflow uint32 = 75
	errNotSup   uint32 = 95
	errShutdown uint32 = 108
)
