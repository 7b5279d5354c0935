package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads a byte count such as "268435456", "256M", "256MiB" or
// "1G". Units are binary (K = 1024) whether or not they carry the "i".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToUpper(t[len(num):])
	shift := map[string]uint{
		"": 0, "B": 0,
		"K": 10, "KB": 10, "KIB": 10,
		"M": 20, "MB": 20, "MIB": 20,
		"G": 30, "GB": 30, "GIB": 30,
		"T": 40, "TB": 40, "TIB": 40,
	}
	sh, ok := shift[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("size %q: want a number with an optional unit K, M, G or T", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	if n <= 0 || n > (1<<62)>>sh {
		return 0, fmt.Errorf("size %q: out of range", s)
	}
	return n << sh, nil
}
