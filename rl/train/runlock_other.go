//go:build !unix

package train

import "os"

// tryLock without flock(2): the directory is not protected against a second process.
func tryLock(*os.File) (bool, error) { return true, nil }

func unlockFile(*os.File) {}
