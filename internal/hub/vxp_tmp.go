package hub

import "errors"

// errNotYet is what the remaining VXP stand-ins (vxp_presence_tmp.go)
// return. Delete this file with the last of them.
var errNotYet = errors.New("not implemented yet")
