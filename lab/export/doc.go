// Package export runs a lab host's side of a lab of many machines
// (tiny-profiler lab export): it finds the host's boards by USB serial
// number, writes the ser2net configuration that serves each one over RFC
// 2217, and publishes each board — id, platform, features, meter binding
// and rfc2217:// address — in the lab's etcd (package lab/etcdstore)
// under an etcd lease of its own. A board that is unplugged is withdrawn,
// and republished when it comes back, possibly on another /dev/ttyUSBn;
// when the exporter stops, nothing it published is left behind.
//
// Leasers anywhere then lease the published boards (hwtest with
// -hwtest.lab, the CLI with --lab) and reach them through ser2net.
package export
