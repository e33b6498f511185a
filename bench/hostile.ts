/**
 * Peak RSS of `meap prepare` on the two inputs built to exhaust memory: a zstd bomb (8 GiB of zeros
 * on one "line", ~290 KB on disk) and a 50 MB document on one line. Each run is a child process, so
 * its peak is its own; one JSON line per run on stdout. Memory is measured here, not in the tests.
 *
 *   npx tsx bench/hostile.ts [tokenizer.json]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tokenizer = process.argv[2] ?? path.resolve(root, '../shared/fixtures/tokenizers/gpt2/tokenizer.json');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meap-bench-hostile-'));

// Written to stderr as the child exits, whatever path it exits by; maxRSS is in KiB.
const probe = `import { writeSync } from 'node:fs'; process.on('exit', () => writeSync(2, '\\nMEAP_PEAK_RSS_KB=' + process.resourceUsage().maxRSS + '\\n'));`;

/** 1 GiB of zeros compresses to ~36 KB with `zstd -1`; concatenated frames are one valid stream. */
function zstdBomb(file: string, gib: number): string {
  const r = spawnSync('sh', ['-c', 'head -c 1073741824 /dev/zero | zstd -1 -q -c'], { maxBuffer: 1 << 24 });
  let frame: Buffer;
  if (r.status === 0 && r.stdout.length > 0) frame = r.stdout;
  else {
    // No zstd binary: 8,192 RLE blocks of 128 KiB (RFC 8878 §3.1.1.2), 4 bytes each.
    frame = Buffer.alloc(6 + 4 * 8192);
    frame.set([0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3]);
    for (let k = 0; k < 8192; k++) {
      const b = (131072 << 3) | (1 << 1) | (k === 8191 ? 1 : 0);
      frame.set([b & 0xff, (b >> 8) & 0xff, b >> 16, 0], 6 + 4 * k);
    }
  }
  fs.writeFileSync(file, Buffer.concat(Array<Buffer>(gib).fill(frame)));
  return r.status === 0 ? 'zstd -1 of /dev/zero' : 'hand-built RLE blocks';
}

function run(label: string, input: string, extra: string[]) {
  const out = path.join(dir, `out-${label}`);
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(probe)}`, path.join(root, 'bin/meap.js'), 'prepare', input, '--out', out, '--tokenizer', tokenizer, '--progress', 'none', ...extra],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  const seconds = (performance.now() - t0) / 1000;
  const rss = /MEAP_PEAK_RSS_KB=(\d+)/.exec(r.stderr);
  const message = r.stderr.split('\n').find((l) => l.startsWith('meap:')) ?? null;
  console.log(
    JSON.stringify({
      run: label,
      inputBytes: fs.statSync(input).size,
      args: extra,
      exit: r.status,
      message,
      seconds: +seconds.toFixed(2),
      peakRssMB: rss ? Math.round(Number(rss[1]) / 1024) : null,
    }),
  );
}

try {
  const bomb = path.join(dir, 'bomb.jsonl.zst');
  const how = zstdBomb(bomb, 8);
  console.error(`bomb: 8 GiB of zeros, ${fs.statSync(bomb).size} bytes (${how})`);
  const big = path.join(dir, 'big.jsonl');
  fs.writeFileSync(big, `{"text":"${'x'.repeat(50_000_000)}"}\n`);

  run('bomb', bomb, []);
  run('bomb-skip', bomb, ['--on-error', 'skip']);
  run('50MB-line', big, []);
  run('50MB-line-skip', big, ['--on-error', 'skip']);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
