/** The benchmark's machine description: Linux CPU lists, as in /sys/devices/system/cpu/cpu0/topology/thread_siblings_list. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuListCount } from '../../benchmarks/lib/machine.js';

test('cpuListCount counts the CPUs a Linux CPU list names, and refuses anything else', () => {
  assert.equal(cpuListCount('0\n'), 1);
  assert.equal(cpuListCount('0-1'), 2);
  assert.equal(cpuListCount('0,2'), 2);
  assert.equal(cpuListCount('0-3,8-11'), 8);
  for (const bad of ['', 'x', '3-1', '0-', '1,,2']) assert.ok(Number.isNaN(cpuListCount(bad)), bad);
});
