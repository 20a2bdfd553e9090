package daemon

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory the Go runtime keeps after a burst of sessions ends is returned to the system by its
// scavenger a few MiB a second: after 500 busy sessions closed, transferd's RSS stayed above 2 GiB
// for minutes with under 10 MiB of heap in use. Nor does a collection come to find the heap
// mostly dead, as nothing allocates. releaseMemory checks every releaseEvery: when no collection
// ran since the last check (the server is quiet; a busy one collects many times a second) and the
// heap spans more than releaseOver and twice what was in use after the last release (so a quiet
// server holding many idle sessions is not collected again and again for nothing), it collects
// and returns every free page at once (debug.FreeOSMemory).
const (
	releaseEvery = 30 * time.Second
	releaseOver  = 256 << 20
)

// releaseMemory runs until the daemon stops.
func (d *Daemon) releaseMemory() {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		samples := []metrics.Sample{
			{Name: "/gc/cycles/total:gc-cycles"},
			{Name: "/memory/classes/heap/free:bytes"},
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/unused:bytes"},
		}
		var cycles, live uint64
		t := time.NewTicker(releaseEvery)
		defer t.Stop()
		for {
			select {
			case <-d.background.Done():
				return
			case <-t.C:
			}
			metrics.Read(samples)
			quiet := samples[0].Value.Uint64() == cycles
			heap := samples[1].Value.Uint64() + samples[2].Value.Uint64() + samples[3].Value.Uint64()
			if quiet && heap > releaseOver && heap > 2*live {
				debug.FreeOSMemory()
				metrics.Read(samples)
				live = samples[2].Value.Uint64() // just collected: what is in use
				d.log.Debug("returned free memory to the system", "heap-bytes", heap, "in-use-bytes", live)
			}
			metrics.Read(samples[:1])
			cycles = samples[0].Value.Uint64()
		}
	}()
}
