import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { TokenError } from '../protocol/errors.ts';
import { createInFlightSharing } from '../runtime/concurrency.ts';

/** Gives the Authorization header value for a ticket's token-ref. */
export interface TokenProvider {
  /**
   * `forceFetch` bypasses any cache: used once after a 401. `replacing` names the value the 401
   * refused, so a refresh another block already made is taken as is. @throws TokenError
   */
  authorization(tokenRef: string, options?: { forceFetch?: boolean; replacing?: string }): Promise<string>;
}

/**
 * `tokens` with fetches shared by concurrent blocks: calls for one token-ref while a fetch is
 * under way wait for that fetch, and a forced refresh whose refused value was already replaced
 * by another block's refresh takes the new value without fetching. One fetch, not one per block.
 */
export function shareTokenFetches(tokens: TokenProvider): TokenProvider {
  const shared = createInFlightSharing<string>();
  const latest = new Map<string, string>();
  return {
    authorization(tokenRef, { forceFetch = false, replacing } = {}) {
      const known = latest.get(tokenRef);
      if (forceFetch && replacing !== undefined && known !== undefined && known !== replacing) return Promise.resolve(known);
      return shared(`${forceFetch ? 'force' : 'cached'}:${tokenRef}`, () =>
        tokens.authorization(tokenRef, { forceFetch }).then((value) => {
          latest.set(tokenRef, value);
          return value;
        }));
    },
  };
}

const TOKEN_REF = /^[\w.-]{1,128}$/;

/**
 * Tokens kept in SSM Parameter Store (SecureString) or Secrets Manager under a fixed prefix,
 * read through Powertools parameters with a short cache. A token-ref names an entry under the
 * prefix only: it cannot climb out of it.
 */
export function parameterStoreTokens(options: { source: 'ssm' | 'secretsmanager'; prefix: string; maxAgeSeconds?: number }): TokenProvider {
  const maxAge = options.maxAgeSeconds ?? 300;
  const ssm = options.source === 'ssm' ? new SSMProvider() : undefined;
  const secrets = options.source === 'secretsmanager' ? new SecretsProvider() : undefined;
  return {
    async authorization(tokenRef, { forceFetch = false } = {}) {
      if (!TOKEN_REF.test(tokenRef)) throw new TokenError(`token-ref "${tokenRef.slice(0, 64)}" is not a plain name`);
      const name = `${options.prefix}${tokenRef}`;
      let value: unknown;
      try {
        value = ssm
          ? await ssm.get(name, { decrypt: true, maxAge, forceFetch })
          : await secrets!.get(name, { maxAge, forceFetch });
      } catch (error) {
        throw new TokenError(`token ${name} could not be read from ${options.source}`, { cause: error });
      }
      if (typeof value !== 'string' || value.trim() === '') throw new TokenError(`token ${name} is empty`);
      return value.trim();
    },
  };
}
