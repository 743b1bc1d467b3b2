// Package agent holds the tests of the portable C agent in this directory
// (tinyprof_agent.c): they build its host program with the system C
// compiler, run the conformance suite and the golden vectors against it
// behind a pseudo-terminal, and fuzz it. See README.md for firmware authors.
package agent
