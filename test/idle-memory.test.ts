import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { IdleMemoryReducer, processProbe, type IdleMemoryProbe } from '../src/apps/idle-memory.js';

const MB = 1024 * 1024;

/** A probe whose load and heap the test sets; counts the reductions asked for. */
function fakeProbe(heapMb: number) {
  const state = { utilization: 0, heapMb, reductions: 0, afterReduceMb: 40 };
  const probe: IdleMemoryProbe = {
    busy: () => state.utilization,
    heapResident: () => state.heapMb * MB,
    reduce: () => {
      state.reductions++;
      state.heapMb = state.afterReduceMb;
    },
  };
  return { state, probe };
}

describe('IdleMemoryReducer (ADR 0078)', () => {
  it('reduces once the process is idle after its start, and again only after a busy period that grew the heap', () => {
    const { state, probe } = fakeProbe(95);
    const reducer = new IdleMemoryReducer({ probe, growthBytes: 16 * MB });
    const first = reducer.check();
    expect(first).toEqual({ beforeBytes: 95 * MB, afterBytes: 40 * MB, ms: expect.any(Number) });
    expect(state.reductions).toBe(1);
    // Still idle, the heap regrowing (the pollers): no collection over and over while idle.
    state.heapMb = 70;
    expect(reducer.check()).toBeUndefined();
    expect(state.reductions).toBe(1);
    // A busy period, grown by less than 16 MB since: nothing worth a pause.
    state.heapMb = 50;
    state.utilization = 0.8;
    expect(reducer.check()).toBeUndefined();
    state.utilization = 0;
    expect(reducer.check()).toBeUndefined();
    expect(state.reductions).toBe(1);
    // A busy period that grew it: once idle again, one more.
    state.utilization = 0.8;
    state.heapMb = 100;
    expect(reducer.check()).toBeUndefined();
    state.utilization = 0;
    expect(reducer.check()).toBeDefined();
    expect(state.reductions).toBe(2);
  });

  it('never collects while the event loop is busy', () => {
    const { state, probe } = fakeProbe(120);
    const reducer = new IdleMemoryReducer({ probe, idleBelow: 0.1 });
    state.utilization = 0.5;
    expect(reducer.check()).toBeUndefined();
    state.utilization = 0.1;
    expect(reducer.check()).toBeUndefined();
    expect(state.reductions).toBe(0);
    state.utilization = 0.02;
    expect(reducer.check()).toBeDefined();
    expect(state.reductions).toBe(1);
  });

  it('measures the main thread by its CPU time, not by wall time it waited (ADR 0085)', () => {
    const probe = processProbe();
    probe.busy();
    // The thread holds the loop for 300 ms without running (as when it waits for one of a loaded
    // machine's cores): the event loop's utilisation says ~100 % busy, the thread's CPU time ~0.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    expect(probe.busy()).toBeLessThan(0.25);
    // Computing (200 ms of this thread's CPU) is busy, however long a loaded machine stretches it.
    const cpuMs = () => {
      const u = process.threadCpuUsage();
      return (u.user + u.system) / 1000;
    };
    const until = cpuMs() + 200;
    let x = 0;
    while (cpuMs() < until) for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + i);
    expect(x).toBeGreaterThan(0);
    expect(probe.busy()).toBeGreaterThan(0.1);
  });

  it('takes a main thread under a quarter busy as idle by default (the idle platform uses 5–18 %)', () => {
    const { state, probe } = fakeProbe(120);
    const reducer = new IdleMemoryReducer({ probe });
    state.utilization = 0.3;
    expect(reducer.check()).toBeUndefined();
    state.utilization = 0.18;
    expect(reducer.check()).toBeDefined();
  });

  it("this process's reduction gives back an emptied young generation, without a global gc", () => {
    const youngResident = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.physical_space_size;
    // Objects that survive scavenges make V8 grow the young generation; then they die.
    let keep: unknown[][] = [];
    for (let round = 0; round < 40; round++) {
      keep.push(Array.from({ length: 20_000 }, (_, i) => ({ i, s: `x${i}` })));
      if (keep.length > 8) keep = keep.slice(-8);
    }
    keep = [];
    const before = youngResident();
    processProbe().reduce();
    expect(youngResident()).toBeLessThan(before);
    expect(youngResident()).toBeLessThanOrEqual(2 * MB);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });

  it('holds the young generation while idle and lets it grow while busy (ADR 0095)', () => {
    const { state, probe } = fakeProbe(95);
    const holds: boolean[] = [];
    probe.holdYoung = (hold) => holds.push(hold);
    const reducer = new IdleMemoryReducer({ probe });
    reducer.check(); // idle: held, reduced
    reducer.check(); // still idle
    state.utilization = 0.8;
    reducer.check(); // busy: let grow
    state.utilization = 0;
    reducer.check();
    expect(holds).toEqual([true, true, false, true]);
  });

  it("this process's hold keeps the young generation at its reduced size while survivors would grow it", () => {
    const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_available_size + v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
    // Objects that survive a few scavenges each, as an idle process's pollers keep in flight.
    const churn = () => {
      let keep: unknown[][] = [];
      for (let round = 0; round < 60; round++) {
        keep.push(Array.from({ length: 20_000 }, (_, i) => ({ i, s: `x${i}` })));
        if (keep.length > 4) keep = keep.slice(-4);
      }
    };
    const probe = processProbe();
    expect(probe.holdYoung).toBeDefined();
    try {
      probe.reduce();
      const reduced = young();
      probe.holdYoung!(true);
      churn();
      expect(young()).toBeLessThanOrEqual(reduced);
      probe.holdYoung!(false);
      churn();
      expect(young()).toBeGreaterThan(2 * reduced);
    } finally {
      probe.holdYoung!(false);
    }
  });
});
