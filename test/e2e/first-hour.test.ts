/**
 * The dead ends a newcomer met in the first hour (issue 14) that the README walk does not pass
 * through: a failed run that blocked its own fix, a tokenizer folder, masked bytes of broken
 * characters in `inspect`, and the help text of inspect's --tokenizer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpt2, llama2, meap, repoRoot, tempDir } from '../helpers/cli.ts';

const web = path.join(repoRoot, 'samples/tiny-corpus/web.jsonl');

describe('first hour', () => {
  it('a bad record names --on-error skip, and the rerun with it needs no --overwrite', () => {
    const dir = tempDir();
    const bad = path.join(dir, 'bad.jsonl');
    const good = fs.readFileSync(web, 'utf8').split('\n').filter(Boolean);
    fs.writeFileSync(bad, [...good.slice(0, 6), '{"text": "broken', ...good.slice(6)].join('\n'));
    const out = path.join(dir, 'out');
    const args = ['prepare', bad, '-t', gpt2, '-o', out, '--seq-len', '64', '--progress', 'none', '--workers', '1'];
    const failed = meap(args);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toMatch(/^meap: error: bad\.jsonl:7: line is not valid JSON: .* \(or pass --on-error skip to skip and count such records\)\n$/);
    // No file was finished: nothing is left behind but the directory.
    expect(fs.readdirSync(out)).toEqual([]);
    const fixed = meap([...args, '--on-error', 'skip']);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stdout).toMatch(/skipped {4}invalidJson 1/);
    // One input file: no "1 files".
    expect(fixed.stdout).toMatch(/inputs {5}1 file, \d+ documents/);
  });

  it('-t takes a folder holding tokenizer.json, with the config files beside it', () => {
    const dir = tempDir();
    const byFile = meap(['prepare', web, '-t', llama2, '-o', path.join(dir, 'a'), '--progress', 'none']);
    const byFolder = meap(['prepare', web, '-t', path.dirname(llama2), '-o', path.join(dir, 'b'), '--progress', 'none']);
    expect(byFolder.code, byFolder.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'b', 'manifest.json'))).toEqual(fs.readFileSync(path.join(dir, 'a', 'manifest.json')));
    expect(byFile.stdout.replace(/\S+: meap-shards/, '')).toBe(byFolder.stdout.replace(/\S+: meap-shards/, ''));
    const none = meap(['prepare', web, '-t', dir, '-o', path.join(dir, 'c')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`${path.join(dir, 'tokenizer.json')}: tokenizer file not found`);
  });

  it('inspect shows the masked bytes of a broken character as <0xBB>, never as U+FFFD', () => {
    const dir = tempDir();
    const input = path.join(dir, 'vi.jsonl');
    fs.writeFileSync(input, `${JSON.stringify({ text: 'Hà Nội là thủ đô của Việt Nam, ở miền Bắc. 🐉 Người ta nói rằng 龍 là rồng. '.repeat(3) })}\n`);
    for (const tok of [llama2, gpt2]) {
      const out = path.join(dir, path.basename(path.dirname(tok)));
      expect(meap(['prepare', input, '-t', tok, '-o', out, '--mask-ratio', '0.5', '--progress', 'none']).code).toBe(0);
      const text = meap(['inspect', out, '--tokenizer', tok]).stdout;
      expect(text).not.toContain('\uFFFD');
      expect(text).not.toContain('[MASK:]');
      expect(text).toMatch(/\[MASK(×\d+)?:[^\]]*<0x[0-9A-F]{2}>/);
    }
  });

  it('inspect --help says where the tokenizer comes from: the manifest records only a sha256', () => {
    const help = meap(['inspect', '--help']).stdout;
    expect(help).not.toContain('recorded path');
    expect(help).toContain('$MEAP_CACHE');
    expect(help).toMatch(/--rows <A\.\.B>/);
    expect(help).toMatch(/--limit <n>/);
  });
});
