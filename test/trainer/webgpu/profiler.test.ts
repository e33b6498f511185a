/** The profile's grouping of a step into timed passes, and its refusal where the adapter cannot time. */
import { expect, it } from 'vitest';
import { familyRuns, type FamilyDispatch, Profiler } from '../../../trainer/webgpu/profiler.ts';
import { softwareGpu } from './harness.ts';

const d = (label: string, family: string) => ({ label, family }) as FamilyDispatch;

it('times each run of consecutive dispatches of one family as one pass, in order', () => {
  const runs = familyRuns([d('norm', 'n'), d('q', 'm'), d('k', 'm'), d('attn', 'a'), d('o', 'm')]);
  expect(runs.map((r) => [r.family, r.dispatches.map((x) => x.label)])).toEqual([
    ['n', ['norm']],
    ['m', ['q', 'k']],
    ['a', ['attn']],
    ['m', ['o']],
  ]);
  expect(familyRuns([])).toEqual([]);
});

it.skipIf(softwareGpu === null || softwareGpu.device.features.has('timestamp-query'))('refuses, in one line, an adapter without timestamp-query', () => {
  expect(() => new Profiler(softwareGpu!, 4)).toThrow(/offers no timestamp-query, so no profile/);
});
