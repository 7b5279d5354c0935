package manager

import (
	"fmt"
	"strings"
)

// secret returns the stored secret key of a backup target ("" when none).
func (t *Tx) secret(target string) (string, error) {
	b, err := t.bucket(bucketSecrets)
	if err != nil {
		return "", err
	}
	return string(b.Get([]byte(target))), nil
}

// putSecret stores a backup target's secret key; "" removes it. It appends
// no event, unlike Put.
func (t *Tx) putSecret(target, secret string) error {
	b, err := t.bucket(bucketSecrets)
	if err != nil {
		return err
	}
	if secret == "" {
		err = b.Delete([]byte(target))
	} else {
		err = b.Put([]byte(target), []byte(secret))
	}
	if err != nil {
		return fmt.Errorf("store secret of backup target %s: %w", target, err)
	}
	return nil
}

// deleteSecrets removes every stored secret whose key starts with prefix.
func (t *Tx) deleteSecrets(prefix string) error {
	b, err := t.bucket(bucketSecrets)
	if err != nil {
		return err
	}
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("delete secret: %w", err)
		}
	}
	return nil
}
