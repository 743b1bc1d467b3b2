package compare

import "testing"

// TestKeyNounsCoverLikeKeys guards the messages: every key that makes a
// benchmark unlike is named in words.
func TestKeyNounsCoverLikeKeys(t *testing.T) {
	for _, k := range likeKeys {
		if keyNoun[k] == "" {
			t.Errorf("likeKeys has %q, keyNoun does not", k)
		}
	}
}
