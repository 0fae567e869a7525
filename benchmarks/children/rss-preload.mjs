// Preloaded with `node --import` into a measured child: on exit, writes its peak memory to $IMAGEDRIFT_BENCH_RSS_FILE
// as {maxRSS, vmHWM} in KiB. Measures the real command (e.g. bin/imagedrift.js fit) without changing it.
// - maxRSS: process.resourceUsage().maxRSS (getrusage). On Linux it carries over the high-water mark of the memory the
//   process had before exec, i.e. a copy of the parent's at fork time: a child of a large parent reports the parent's size.
// - vmHWM: VmHWM from /proc/self/status, the peak resident set of this program's own address space.
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.env.IMAGEDRIFT_BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    writeFileSync(file, JSON.stringify({ maxRSS: process.resourceUsage().maxRSS, vmHWM: m ? Number(m[1]) : null }));
  });
}
