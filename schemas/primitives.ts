/** Value shapes that several files share. Covered by test/schemas/manifest.test.ts, where manifests put them to use. */
import { z } from 'zod';

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
export const Count = z.number().int().nonnegative();

/** Relative POSIX path that stays inside the directory: no absolute paths, no `..`. */
export const RelativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p) && !p.split(/[\\/]/).includes('..'), {
    message: 'must be a relative path inside the directory (no leading /, no ..)',
  });
