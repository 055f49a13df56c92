//go:build !cuda

package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestStubHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := stub([]string{"-h"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "-tags cuda") {
		t.Fatalf("-h: exit %d, stdout %q", code, stdout.String())
	}
	if code := stub(nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "-tags cuda") {
		t.Fatalf("no flags: exit %d, stderr %q", code, stderr.String())
	}
}
