package manager

import "fmt"

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
