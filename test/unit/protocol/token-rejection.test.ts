import { describe, expect, it } from 'vitest';
import { afterUnauthorized } from '../../../lib/protocol/token-rejection.ts';

describe('Function: afterUnauthorized', () => {
  it.each([
    ['the first 401 of a delivery', { refreshed: false, tokenChanged: false }, 'refresh-token', undefined],
    ['a 401 after a refresh that returned the same token', { refreshed: true, tokenChanged: false }, 'token-rejected', /same token/],
    ['a 401 to the refreshed, new token', { refreshed: true, tokenChanged: true }, 'token-rejected', /refreshed one/],
  ] as const)('Should decide for %s', (_name, state, kind, why) => {
    const verdict = afterUnauthorized(state);
    expect(verdict.kind).toBe(kind);
    if (why !== undefined) expect(verdict.kind === 'token-rejected' && verdict.why).toMatch(why);
  });
});
