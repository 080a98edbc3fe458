// Package pki holds the certificate machinery of the ndxp hub: agency and
// admin identities carried in client certificates, the certificate authority
// that issues them, credentials files and the TLS configurations used on both
// ends of the mutual-TLS gRPC connection.
//
// # Identities
//
// Every client of the hub authenticates with an X.509 client certificate. The
// certificate names exactly one identity in a URI subject alternative name:
//
//	urn:ndxp:agency:<code>   an agency, e.g. urn:ndxp:agency:000.00.00.G22
//	urn:ndxp:admin:<name>    a hub administrator, e.g. urn:ndxp:admin:root
//	urn:ndxp:node:<id>       a node of a hub cluster, e.g. urn:ndxp:node:n1
//
// Node certificates ([CA.IssueNode]) serve both ends of the mutual TLS
// between the nodes of a cluster; [NodeTLS] accepts nothing else on the
// node port, and the hub refuses them on its agency and admin port.
//
// The hub takes identity only from the verified certificate (see
// [IdentityFromCert]); the subject common name is informational and never
// consulted. A server obtains the identity of a peer with
//
//	chains := tlsConn.ConnectionState().VerifiedChains
//	id, err := pki.IdentityFromCert(chains[0][0])
//
// # Certificate authority
//
// [NewCA] creates a self-signed CA (ECDSA P-256, SHA-256 signatures, random
// 128-bit serial numbers) that can issue server certificates ([CA.IssueServer])
// and client certificates ([CA.SignCSR], [CA.IssueClient]). A CA loaded from a
// certificate without a key ([LoadCA] with an empty key file) only serves as a
// trust anchor. The serial number of a client certificate, formatted by
// [SerialString], is the credential id used for revocation.
//
// # Credentials files
//
// A credentials file is a single PEM file, written with mode 0600, that gives
// a client everything it needs to talk to the hub:
//
//	# ndxp credentials for urn:ndxp:agency:000.00.00.H41 — keep secret
//	# ...more comment lines...
//	-----BEGIN NDXP HUB-----
//	Address: hub.example.gov:7443
//	Other-Addresses: hub2.example.gov:7443, hub3.example.gov:7443
//
//	-----END NDXP HUB-----
//	-----BEGIN CERTIFICATE-----      one or more CA certificates
//	...
//	-----BEGIN CERTIFICATE-----      the client certificate
//	...
//	-----BEGIN PRIVATE KEY-----      the client key, PKCS #8
//	...
//
// Other-Addresses is present only for a cluster: its other nodes, tried
// after Address in that order ([Creds.Addresses]). Address alone stays a
// single host:port so that SDKs from before clusters still read the file.
// Text outside PEM blocks is ignored. When parsing, the client certificate is
// the CERTIFICATE block whose public key matches the private key; every other
// CERTIFICATE block is a CA root used to verify the hub. See [EncodeCreds],
// [WriteCreds], [ParseCreds] and [ReadCreds].
//
// Like ssh with a private key, [ReadCreds] refuses a file that its group or
// others may access, and says which chmod fixes it; it reads at most
// [MaxCredsSize] bytes, and only from a regular file or a pipe.
//
// # Files
//
// Secrets are written with [WriteFileAtomic]: a temporary file in the target
// directory is written, synced and renamed over the target, then the
// directory is synced, so a crash never leaves a half-written key behind.
package pki
