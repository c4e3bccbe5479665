// One zod entry point for lib/: the mini build with English messages, imported as a namespace
// so esbuild keeps only what is used (~15 KiB instead of ~420 KiB).
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());

export { z };

/** Parses `value` with `schema`, or throws what `toError` makes of the readable issue list. */
export function parseWith<T>(schema: z.ZodMiniType<T>, value: unknown, toError: (message: string) => Error): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw toError(z.prettifyError(result.error).replaceAll('\n', '; ').replaceAll('✖ ', ''));
}
