package history

import (
	"context"

	"github.com/faultline/faultline/checkers"
)

// readBlocks reads the blocks at the sorted offsets, coalescing adjacent
// ones into reads of up to maxRead bytes, and calls fn for each block with
// its data or read error. A failed coalesced read is retried block by block
// so one bad block does not hide its neighbours. It returns early only when
// ctx ends.
func readBlocks(ctx context.Context, dev checkers.Device, offsets []int64, bs int, fn func(off int64, data []byte, err error)) error {
	per := max(maxRead/bs, 1)
	buf := make([]byte, per*bs)
	for i := 0; i < len(offsets); {
		if err := ctx.Err(); err != nil {
			return err
		}
		j := i + 1
		for j < len(offsets) && j-i < per && offsets[j] == offsets[j-1]+int64(bs) {
			j++
		}
		run := buf[:(j-i)*bs]
		if err := checkers.ReadFull(dev, run, offsets[i]); err == nil {
			for k := i; k < j; k++ {
				fn(offsets[k], run[(k-i)*bs:(k-i+1)*bs], nil)
			}
		} else {
			for k := i; k < j; k++ {
				one := buf[:bs]
				fn(offsets[k], one, checkers.ReadFull(dev, one, offsets[k]))
			}
		}
		i = j
	}
	return nil
}
