//go:build !unix

package pgtest

import "os/exec"

// runAs does nothing: only Unix has a root user that PostgreSQL refuses
// to run as.
func runAs(cmd *exec.Cmd, uid, gid int) {}

// alive reports true, so that clusters are never swept where it cannot
// tell.
func alive(pid int) bool { return true }
