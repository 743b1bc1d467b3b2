package main

import "github.com/spf13/cobra"

// commands lists every tiny-profiler command, in the order a reader of the
// incident runbook meets them. This is the one place a command is
// registered: a new command's constructor is added here, not in an init.
// A command that talks to one board is wrapped in onBoard, so that its
// failures say busy, gone or broken; those that check many boards
// (health-check, emergency-reset) say it per board.
func commands() []*cobra.Command {
	return []*cobra.Command{
		// Finding and checking boards.
		newDetectDevices(),
		onBoard(newTestConnection()),
		onBoard(newSystemInfo()),
		newHealthCheck(),
		onBoard(newDebugDevice()),
		// Recovering them.
		onBoard(newResetDevice()),
		newEmergencyReset(),
		onBoard(newFlash()),
		// Measuring.
		onBoard(newBenchmark()),
		newCompare(),
		onBoard(newMonitor()),
		newPower(),
		// Models.
		newAnalyzeModel(),
		newQuantize(),
		newPlan(),
		newCalibrate(),
		// Simulated and emulated boards, and the lab.
		newSimulate(),
		newEmulate(),
		newPlatforms(),
		newLeases(),
		newInventory(),
		newLab(),
		// The journal and its reports.
		newIncidentReport(),
		newJournal(),
	}
}
