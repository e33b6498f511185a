export function cacheRoot(): string;
export function indexFile(dir: string, source: string): string;
export type Stamp = [file: string, size: number, mtimeMs: number, ctimeMs: number];
export function stampFiles(inputs: readonly string[], startedMs: number, outputs?: readonly string[]): Stamp[] | null;
export function freshIndex(file: string): ({ inputs: Stamp[] } & Record<string, unknown>) | null;
