package lab

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A live waiter ahead in line keeps a newcomer from a free board; one for
// other boards does not; a dead waiter's ticket is passed over and swept.
func TestQueueOrder(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-a", "sim-b")...)
	st := lab.Store.(*FlockStore)
	r := Request{ID: "sim-a"}

	first, err := st.Enqueue(t.Context(), []string{"sim-a"}, testHolder("TestFirst"))
	require.NoError(t, err)
	_, err = lab.Acquire(within(t, 200*time.Millisecond), t.Name(), r)
	require.ErrorIs(t, err, ErrUnavailable, "sim-a is free, but an earlier waiter wants it")
	require.ErrorContains(t, err, "1 earlier waiters for these boards were still ahead in line")

	b, err := lab.Acquire(within(t, 30*time.Second), t.Name(), Request{ID: "sim-b"})
	require.NoError(t, err, "a waiter for another board is no one's obstacle")
	require.NoError(t, b.Release())

	later, err := st.Enqueue(t.Context(), []string{"sim-a"}, testHolder("TestLater"))
	require.NoError(t, err)
	ahead, err := later.Ahead(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, ahead)
	waiters, err := st.Waiters(t.Context(), []string{"sim-a", "sim-c"})
	require.NoError(t, err)
	require.Equal(t, 2, waiters)
	waiters, err = st.Waiters(t.Context(), []string{"sim-b"})
	require.NoError(t, err)
	require.Zero(t, waiters)
	require.NoError(t, later.Leave())

	require.NoError(t, first.Leave())
	require.NoError(t, first.Leave(), "leave twice")

	// A waiter killed in line leaves its ticket behind, unlocked.
	dead := filepath.Join(st.Dir(), ticketPrefix+"00000000000000000001-0000000001-00000000")
	require.NoError(t, os.WriteFile(dead, []byte(`{"boards":["sim-a"]}`), 0o600))
	b, err = lab.Acquire(within(t, 30*time.Second), t.Name(), r)
	require.NoError(t, err, "a dead waiter holds no place in line")
	require.NoError(t, b.Release())
	require.NoFileExists(t, dead, "the stale ticket is swept")

	// So does one killed while writing its ticket, once it is old.
	tmp := filepath.Join(st.Dir(), tmpTicketPrefix+"123")
	require.NoError(t, os.WriteFile(tmp, nil, 0o600))
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(tmp, old, old))
	b, err = lab.Acquire(within(t, 30*time.Second), t.Name(), r)
	require.NoError(t, err)
	require.NoError(t, b.Release())
	require.NoFileExists(t, tmp, "the half-written ticket is swept")

	ents, err := os.ReadDir(st.Dir())
	require.NoError(t, err)
	for _, e := range ents {
		require.NotContains(t, e.Name(), "ticket", "every ticket is gone once its waiter is served")
	}
}
