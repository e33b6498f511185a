/** The CLI's main(argv) and its exit code; see load-main.js. */
export function loadMain(): Promise<{ main: (argv: string[]) => Promise<number> }>;
