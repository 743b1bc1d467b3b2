package sim

// Reboot restarts the board as a brown-out, a watchdog or a crash would:
// RAM (and a model in it) is lost, the boot id changes, and the board
// announces itself with boot noise (if enabled) and an unsolicited INFO.
// It may be called while a host is connected, between or during requests.
func (b *Board) Reboot() { b.reboot() }
