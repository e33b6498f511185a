import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cacheRoot } from '../../core/cache.ts';

const saved = process.env.MEAP_CACHE;
afterEach(() => {
  if (saved === undefined) delete process.env.MEAP_CACHE;
  else process.env.MEAP_CACHE = saved;
});

describe('cacheRoot', () => {
  it('follows $MEAP_CACHE, read at each call', () => {
    process.env.MEAP_CACHE = '/srv/meap-cache';
    expect(cacheRoot()).toBe('/srv/meap-cache');
    process.env.MEAP_CACHE = '/elsewhere';
    expect(cacheRoot()).toBe('/elsewhere');
  });

  it('falls back to ~/.cache/meap when $MEAP_CACHE is unset or empty', () => {
    const fallback = path.join(os.homedir(), '.cache', 'meap');
    delete process.env.MEAP_CACHE;
    expect(cacheRoot()).toBe(fallback);
    process.env.MEAP_CACHE = '';
    expect(cacheRoot()).toBe(fallback);
  });
});
