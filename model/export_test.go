package model

// RaceEnabled reports a -race build to the external tests.
const RaceEnabled = raceEnabled
