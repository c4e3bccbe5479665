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

/** A JSON text's value, or undefined when it is not JSON: for reads where "not JSON" means "nothing here". */
export function jsonOrUndefined(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** One field of a JSON value, looked at before (or instead of) its schema; undefined when the value is no object. */
export function fieldOf(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}
