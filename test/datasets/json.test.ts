import { describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { readAll, useScratch, values } from './helpers.ts';

const { write } = useScratch();

describe('JSON array', () => {
  it('reads elements of any shape, with strings holding brackets, commas and escapes', async () => {
    const file = await write('odd.json', '\uFEFF [ {"a":"],[{\\"\\\\"}, [1,{"b":[]}] ,"s",\n 3 , null ]  \n');
    expect(values(await readAll(file))).toEqual([{ a: '],[{"\\' }, [1, { b: [] }], 's', 3, null]);
  });

  it('reads an empty array', async () => {
    expect(await readAll(await write('empty.json', ' [ ] '))).toEqual([]);
  });

  it('yields invalidJson with the record index for a bad element, and continues', async () => {
    const file = await write('bad.json', '[{"a":1}, {"a":}, {"a":3}]');
    const items = await readAll(file);
    expect(items.map((i) => i.kind)).toEqual(['record', 'error', 'record']);
    expect(items[1].kind === 'error' && items[1].error).toMatchObject({ reason: 'invalidJson', where: { file: 'bad.json', record: 1 } });
    expect(items[2]).toMatchObject({ where: { record: 2 } });
  });

  it('finds element boundaries across read chunks', async () => {
    const big = Array.from({ length: 40 }, (_, i) => ({ text: `${'é'.repeat(50_000)}${i}` }));
    const file = await write('big.json', JSON.stringify(big));
    expect(values(await readAll(file))).toEqual(big);
  });

  it('keeps escape state across read chunks (1 MiB), wherever the boundary falls', async () => {
    const text = 'q"b\\"e';
    for (const shift of [-3, -2, -1, 0, 1]) {
      // Puts the escaped quote's backslash at byte 2^20 + shift.
      const prefix = '[{"t":"';
      const pad = 'a'.repeat((1 << 20) + shift - prefix.length - 1);
      const value = [{ t: `${pad}${text}` }, { t: 'next,]' }];
      const file = await write(`edge${shift}.json`, JSON.stringify(value));
      expect(values(await readAll(file)), `shift ${shift}`).toEqual(value);
    }
  });

  it('throws corruptFile for a file that is not an array', async () => {
    for (const [name, content] of [
      ['obj.json', '{"text":"x"}'],
      ['blank.json', '  \n'],
      ['after.json', '[1] [2]'],
    ]) {
      const err = await readAll(await write(name, content)).catch((e) => e);
      expect(err, name).toBeInstanceOf(InputError);
      expect(err.reason, name).toBe('corruptFile');
      expect(err.where.file, name).toBe(name);
    }
    await expect(readAll(await write('obj2.json', '{"a":1}'))).rejects.toThrow('expected a JSON array of records');
  });

  it('throws truncatedFile when the array never closes', async () => {
    await expect(readAll(await write('open.json', '[{"a":1}, {"a":'))).rejects.toMatchObject({ reason: 'truncatedFile' });
  });
});
