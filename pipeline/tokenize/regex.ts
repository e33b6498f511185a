/**
 * Rewrites the pure-JS engine's regexes so that they split text exactly as the Rust engine's
 * Oniguruma does.
 */


/*
 * Rust `tokenizers` compiles pre-tokenizer regexes with Oniguruma, whose `\s` is Unicode White_Space:
 * it matches U+0085 but not U+FEFF. JavaScript's `\s` is the other way round, so the JS engine split
 * some real documents differently. Measured against the native engine over every code point.
 */
const ONIG_SPACE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x09, 0x0d], [0x20, 0x20], [0x85, 0x85], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a],
  [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000],
];

/*
 * Letters and digits new in Unicode 17. Node 20.20 knows them; the Oniguruma inside `tokenizers`
 * 0.23 (Unicode 16) treats them as unassigned, so `\p{L}`/`\p{N}` must not match them. Measured
 * against the native engine over every code point; on a Node with older Unicode data excluding them
 * changes nothing.
 */
const NEW_LETTERS: ReadonlyArray<readonly [number, number]> = [
  [0x088f, 0x088f], [0x0c5c, 0x0c5c], [0x0cdc, 0x0cdc], [0xa7ce, 0xa7cf], [0xa7d2, 0xa7d2], [0xa7d4, 0xa7d4],
  [0xa7f1, 0xa7f1], [0x10940, 0x10959], [0x10ec5, 0x10ec7], [0x11db0, 0x11ddb], [0x16ea0, 0x16eb8],
  [0x16ebb, 0x16ed3], [0x16ff2, 0x16ff3], [0x187f8, 0x187ff], [0x18d09, 0x18d1e], [0x18d80, 0x18df2],
  [0x1e6c0, 0x1e6de], [0x1e6e0, 0x1e6e2], [0x1e6e4, 0x1e6e5], [0x1e6e7, 0x1e6ed], [0x1e6f0, 0x1e6f4],
  [0x1e6fe, 0x1e6ff], [0x2b73a, 0x2b73f], [0x2cea2, 0x2cead], [0x323b0, 0x33479],
];
const NEW_DIGITS: ReadonlyArray<readonly [number, number]> = [[0x11de0, 0x11de9], [0x16ff4, 0x16ff6]];
const NEWER_THAN_ONIG: Record<string, ReadonlyArray<readonly [number, number]>> = {
  L: NEW_LETTERS, Letter: NEW_LETTERS, N: NEW_DIGITS, Number: NEW_DIGITS,
};

function classBody(ranges: ReadonlyArray<readonly [number, number]>, unicode: boolean): string {
  const esc = (cp: number) => (cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`);
  return ranges
    .filter(([a]) => unicode || a <= 0xffff)
    .map(([a, b]) => (a === b ? esc(a) : `${esc(a)}-${esc(b)}`))
    .join('');
}

function complement(ranges: ReadonlyArray<readonly [number, number]>, max: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [a, b] of ranges) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next <= max) out.push([next, max]);
  return out;
}

/**
 * Rewrites a RegExp source (u flag or none, not v) so that `\s`, `\S`, `\p{L}` and `\p{N}` match what
 * they match in Oniguruma. Escaped backslashes are left alone.
 */
export function onigSource(source: string, flags: string): string {
  const unicode = flags.includes('u');
  const ws = classBody(ONIG_SPACE_RANGES, unicode);
  const nonWs = classBody(complement(ONIG_SPACE_RANGES, unicode ? 0x10ffff : 0xffff), unicode);
  let out = '';
  let i = 0;
  // Reads one escape at source[i] (a backslash); returns its text and, for \p{X}/\P{X}, the property.
  const readEscape = (): { text: string; prop?: string; negated?: boolean } => {
    const n = source[i + 1] ?? '';
    if (unicode && (n === 'p' || n === 'P') && source[i + 2] === '{') {
      const close = source.indexOf('}', i + 3);
      if (close > 0) {
        const text = source.slice(i, close + 1);
        i = close + 1;
        return { text, prop: text.slice(3, -1), negated: n === 'P' };
      }
    }
    i += 2;
    return { text: '\\' + n };
  };
  while (i < source.length) {
    const c = source[i];
    if (c === '\\') {
      const e = readEscape();
      const newer = e.prop !== undefined && unicode ? NEWER_THAN_ONIG[e.prop] : undefined;
      if (e.text === '\\s') out += `[${ws}]`;
      else if (e.text === '\\S') out += `[^${ws}]`;
      else if (newer && !e.negated) out += `(?:(?![${classBody(newer, true)}])${e.text})`;
      else if (newer) out += `(?:${e.text}|[${classBody(newer, true)}])`;
      else out += e.text;
      continue;
    }
    if (c !== '[') {
      out += c;
      i++;
      continue;
    }
    // Without the v flag classes do not nest, and a `]` right after `[` or `[^` closes the class.
    i++;
    const negated = source[i] === '^';
    if (negated) i++;
    let body = '';
    const newer: Array<readonly [number, number]> = [];
    while (i < source.length && source[i] !== ']') {
      if (source[i] !== '\\') {
        body += source[i++];
        continue;
      }
      const e = readEscape();
      if (e.text === '\\s') body += ws;
      else if (e.text === '\\S') body += nonWs;
      else {
        if (e.prop !== undefined && !e.negated && unicode && NEWER_THAN_ONIG[e.prop]) newer.push(...NEWER_THAN_ONIG[e.prop]);
        body += e.text;
      }
    }
    i++;
    const cls = `[${negated ? '^' : ''}${body}]`;
    if (newer.length === 0) out += cls;
    // Characters Oniguruma thinks unassigned are outside every \p{L}/\p{N}: out of a class that
    // names them, into a negated one.
    else if (!negated) out += `(?:(?![${classBody(newer, true)}])${cls})`;
    else out += `(?:${cls}|[${classBody(newer, true)}])`;
  }
  return out;
}

function patchRegExp(re: RegExp): RegExp {
  // v-mode classes nest and need another parser; the library never builds such patterns.
  if (re.flags.includes('v')) return re;
  const source = onigSource(re.source, re.flags);
  return source === re.source ? re : new RegExp(source, re.flags);
}

/** Walks the normalizer and pre-tokenizer objects of a @huggingface/tokenizers Tokenizer and patches their regexes. */
export function patchWhitespace(node: unknown, seen = new Set<unknown>()): void {
  if (node === null || (typeof node !== 'object' && typeof node !== 'function') || seen.has(node)) return;
  seen.add(node);
  const obj = node as Record<string, unknown>;
  if (obj.pattern instanceof RegExp) obj.pattern = patchRegExp(obj.pattern);
  // Sequence pre-tokenizers keep children in `tokenizers`, Sequence normalizers in `normalizers`.
  for (const key of ['tokenizers', 'normalizers']) {
    const children = obj[key];
    if (Array.isArray(children)) for (const ch of children) patchWhitespace(ch, seen);
  }
}
