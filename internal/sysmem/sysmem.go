// Package sysmem reads how much memory this process can still allocate (Linux's MemAvailable,
// bounded by a cgroup limit), for the commands' and the trainer's memory checks.
package sysmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Available is what this process can still allocate, in bytes: the kernel's MemAvailable, and under
// a cgroup (v2 or v1) memory limit, the room left below it, whichever is less. ok is false where
// neither can be read (not Linux).
func Available() (float64, bool) {
	avail, ok := meminfoAvailable()
	if room, cg := cgroupRoom(); cg && (!ok || room < avail) {
		avail, ok = room, true
	}
	return avail, ok
}

func meminfoAvailable() (float64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

func cgroupRoom() (float64, bool) {
	for _, p := range [][2]string{
		{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"},
	} {
		limit, ok1 := readNumber(p[0])
		used, ok2 := readNumber(p[1])
		if ok1 && ok2 && limit < 1<<60 { // "max" or the v1 "no limit" value
			return max(limit-used, 0), true
		}
	}
	return 0, false
}

func readNumber(path string) (float64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	return v, err == nil
}
