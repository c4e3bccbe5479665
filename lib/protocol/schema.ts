// zod's mini build with English messages. Modules import `* as z from 'zod/mini'` themselves:
// re-exporting the namespace as a value would make esbuild keep all of zod (~420 KiB, not ~15).
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());

/** Parses `value` with `schema`, or throws what `toError` makes of the readable issue list. */
export function parseWith<T>(schema: z.ZodMiniType<T>, value: unknown, toError: (message: string) => Error): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw toError(z.prettifyError(result.error).replaceAll('\n', '; ').replaceAll('✖ ', ''));
}
