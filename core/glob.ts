/**
 * The one glob dialect of meap, for local inputs and hub paths alike: `*` and `?` within a path
 * segment, `**` as a whole segment for any depth, and `{a,b}` alternatives. Matching never crosses
 * a `/`, and wildcards skip dot-entries unless the pattern spells the dot, as in shells.
 */

const GLOB_CHARS = /[*?{]/;
export const hasGlob = (s: string) => GLOB_CHARS.test(s);

/** `{a,b{c,d}}x` → ax, bcx, bdx. A brace group without a top-level comma is literal. */
export function expandBraces(pattern: string): string[] {
  for (let open = pattern.indexOf('{'); open !== -1; open = pattern.indexOf('{', open + 1)) {
    let depth = 0;
    const commas: number[] = [];
    let close = -1;
    for (let i = open; i < pattern.length; i++) {
      const c = pattern[i];
      if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        close = i;
        break;
      } else if (c === ',' && depth === 1) commas.push(i);
    }
    if (close === -1) return [pattern];
    if (commas.length === 0) continue;
    const head = pattern.slice(0, open);
    const tail = pattern.slice(close + 1);
    const cuts = [open, ...commas, close];
    const out: string[] = [];
    for (let k = 0; k + 1 < cuts.length; k++) {
      out.push(...expandBraces(head + pattern.slice(cuts[k] + 1, cuts[k + 1]) + tail));
    }
    return out;
  }
  return [pattern];
}

/** One segment (no `/`, braces already expanded) as RegExp source. */
function segmentSource(seg: string): string {
  let re = '';
  for (const c of seg) {
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  }
  return re;
}

/** Matches one directory entry's name against one pattern segment. */
export const segmentRegExp = (seg: string) => new RegExp(`^${segmentSource(seg)}$`, 'su');

/**
 * A matcher of whole `/`-separated relative paths (a hub repository's files). A pattern without
 * wildcards names a directory as well as a file, so `data` takes everything under data/.
 */
export function pathMatcher(glob: string): (p: string) => boolean {
  const alts = expandBraces(glob).map((pattern) => {
    const segs = pattern.split('/').filter((s) => s !== '');
    let re = '';
    segs.forEach((seg, i) => {
      const last = i === segs.length - 1;
      if (seg === '**') re += last ? '.*' : '(?:[^/]+/)*';
      else re += segmentSource(seg) + (last ? '' : '/');
    });
    if (!/[*?]/.test(pattern)) re += '(?:/.*)?';
    // Per alternative, after brace expansion, as local globs decide it: `{.github,src}/*` spells the dot.
    const hiddenOk = pattern.startsWith('.') || pattern.includes('/.');
    return { re: new RegExp(`^${re}$`, 'su'), hiddenOk };
  });
  return (p) => {
    const hidden = p.split('/').some((s) => s.startsWith('.'));
    return alts.some((a) => a.re.test(p) && (a.hiddenOk || !hidden));
  };
}
