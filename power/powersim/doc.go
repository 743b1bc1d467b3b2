// Package powersim serves simulated power meters — a Nordic PPK2 and an
// ST LPM01A — behind real pseudo-terminals, speaking their protocols byte
// for byte, so that the drivers in power/ppk2 and power/lpm01a are tested
// through the real serial stack. Shaped like net/http/httptest: StartPPK2
// and StartLPM01A return a running meter whose Path a driver opens; Close
// (registered with t.Cleanup by the Start functions) stops it.
//
// The device under test is a caller-supplied power.Waveform: the current it
// draws and the state of the GPIO lines wired to the meter's logic or
// event inputs, as functions of the meter's time. Faults are set in the
// options before start: a meter that drops samples, stops answering, or
// answers with errors or another protocol.
//
// Every figure a simulated meter produces is modelled; Info().Simulated
// says so once a driver opens it with Simulated set.
package powersim
