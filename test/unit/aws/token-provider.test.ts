import { describe, expect, it } from 'vitest';
import { shareTokenFetches, type TokenProvider } from '../../../lib/aws/token-provider.ts';

/** A token source whose fetches wait until released, counting them. */
function slowSource(values: string[]) {
  const fetches: Array<{ forceFetch: boolean }> = [];
  let release!: () => void;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const source: TokenProvider = {
    async authorization(_ref, options) {
      fetches.push({ forceFetch: options?.forceFetch ?? false });
      const value = values[Math.min(fetches.length - 1, values.length - 1)]!;
      await gate;
      return value;
    },
  };
  return {
    source,
    fetches,
    release() {
      release();
      gate = new Promise<void>((resolve) => (release = resolve));
    },
  };
}

describe('Function: shareTokenFetches', () => {
  it('Should make one fetch for 8 blocks asking at once, cached or forced', async () => {
    const { source, fetches, release } = slowSource(['t1', 't2']);
    const tokens = shareTokenFetches(source);
    const first = Promise.all(Array.from({ length: 8 }, () => tokens.authorization('default')));
    release();
    expect(await first).toStrictEqual(Array(8).fill('t1'));
    const refreshed = Promise.all(Array.from({ length: 8 }, () => tokens.authorization('default', { forceFetch: true, replacing: 't1' })));
    release();
    expect(await refreshed).toStrictEqual(Array(8).fill('t2'));
    expect(fetches).toStrictEqual([{ forceFetch: false }, { forceFetch: true }]);
  });

  it('Should take a refresh another block already made instead of fetching again', async () => {
    const values = ['t1', 't2', 't3'];
    let fetches = 0;
    const tokens = shareTokenFetches({ authorization: async () => values[fetches++]! });
    await tokens.authorization('default');
    await tokens.authorization('default', { forceFetch: true, replacing: 't1' });
    // A block that was refused t1 after the refresh above: t2 is already there.
    expect(await tokens.authorization('default', { forceFetch: true, replacing: 't1' })).toBe('t2');
    expect(fetches).toBe(2);
  });

  it('Should keep token-refs apart and not keep a failed fetch', async () => {
    let calls = 0;
    const tokens = shareTokenFetches({
      async authorization(ref) {
        calls += 1;
        if (calls === 1) throw new Error('parameter store down');
        return `token-of-${ref}`;
      },
    });
    await expect(tokens.authorization('a')).rejects.toThrow(/down/);
    expect(await Promise.all([tokens.authorization('a'), tokens.authorization('b')])).toStrictEqual(['token-of-a', 'token-of-b']);
    expect(calls).toBe(3);
  });
});
