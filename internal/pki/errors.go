package pki

import "errors"

// Sentinel errors. Functions in this package wrap them with context, so test
// for them with [errors.Is].
var (
	// ErrInvalidIdentity reports an identity or identity URI that is not of
	// the form urn:ndxp:agency:<code>, urn:ndxp:admin:<name> or
	// urn:ndxp:node:<id>.
	ErrInvalidIdentity = errors.New("invalid ndxp identity")

	// ErrNoIdentity reports a certificate that does not carry exactly one
	// valid urn:ndxp: URI subject alternative name.
	ErrNoIdentity = errors.New("no ndxp identity in certificate")

	// ErrNotNode reports a peer on the cluster's node port whose
	// certificate names no node (an agency's, an admin's or the hub's).
	ErrNotNode = errors.New("not a node certificate")

	// ErrCannotSign reports an attempt to issue a certificate with a CA that
	// has no private key.
	ErrCannotSign = errors.New("cannot sign: CA has no private key")

	// ErrKeyMismatch reports a private key that does not belong to the
	// certificate it is paired with.
	ErrKeyMismatch = errors.New("private key does not match certificate")

	// ErrBadCSR reports a certificate signing request that cannot be parsed,
	// has an invalid signature or an unacceptable public key.
	ErrBadCSR = errors.New("invalid certificate signing request")

	// ErrMalformedPEM reports data that is not the expected PEM: no blocks,
	// a truncated block, an unexpected block type or an unparsable body.
	ErrMalformedPEM = errors.New("malformed PEM data")

	// ErrNoAddress reports credentials without a valid hub address.
	ErrNoAddress = errors.New("no hub address")

	// ErrNoCACert reports credentials without a CA certificate.
	ErrNoCACert = errors.New("no CA certificate")

	// ErrNoClientCert reports credentials without a client certificate.
	ErrNoClientCert = errors.New("no client certificate")

	// ErrNoClientKey reports credentials without a client private key.
	ErrNoClientKey = errors.New("no client key")

	// ErrTooOpen reports a file of secrets that its group or others may
	// read or write (ssh refuses a private key file the same way).
	ErrTooOpen = errors.New("permissions are too open")

	// ErrTooLarge reports a file larger than any file of its kind can be.
	ErrTooLarge = errors.New("file too large")

	// ErrNotRegular reports a path that is a directory, a device or a
	// socket where a file was expected.
	ErrNotRegular = errors.New("not a regular file")
)
