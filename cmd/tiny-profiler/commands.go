package main

import "github.com/spf13/cobra"

// commands lists every tiny-profiler command, in the order a reader of the
// incident runbook meets them. This is the one place a command is
// registered: a new command's constructor is added here, not in an init.
func commands() []*cobra.Command {
	return []*cobra.Command{
		// Finding and checking boards.
		newDetectDevices(),
		newTestConnection(),
		newSystemInfo(),
		newHealthCheck(),
		newDebugDevice(),
		// Recovering them.
		newResetDevice(),
		newEmergencyReset(),
		newFlash(),
		// Measuring.
		newBenchmark(),
		newCompare(),
		newMonitor(),
		newPower(),
		// Models.
		newAnalyzeModel(),
		newQuantize(),
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
