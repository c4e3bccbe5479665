import { TokenError } from '../lib/protocol/errors.ts';
import type { TokenProvider } from '../lib/aws/token-provider.ts';

/**
 * The local token provider: every token-ref gets the Authorization value from the environment
 * (`XBL_AUTHORIZATION`), never from a flag or a file in the repo.
 */
export function envTokens(env: Record<string, string | undefined> = process.env): TokenProvider {
  return {
    async authorization() {
      const value = env.XBL_AUTHORIZATION?.trim();
      if (!value) throw new TokenError('XBL_AUTHORIZATION is not set: export the Authorization value to use (e.g. "XBL3.0 x=<userhash>;<token>")');
      return value;
    },
  };
}
