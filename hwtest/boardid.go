package hwtest

// BoardID returns the board's inventory id. bench reads it, through a
// one-method interface, to name the board in configuration lines the same
// way in every run.
func (b *Board) BoardID() string { return b.Entry.ID }
