/** What the relay does after a 401 to a block's PUT. */
export type UnauthorizedVerdict = { kind: 'refresh-token' } | { kind: 'token-rejected'; why: string };

/**
 * The token-rejection rule (PROTOCOL.md: 401 means get a fresh token, then it may succeed). The
 * first 401 of a delivery gets one refresh and one more PUT. A 401 after that refresh, whether it
 * brought a new token or the same one, ends the clip TOKEN_REJECTED at once: a retry through SQS
 * with the same token source would only burn deliveries for minutes to hours. At most 2 PUTs per
 * block.
 */
export function afterUnauthorized(state: { refreshed: boolean; tokenChanged: boolean }): UnauthorizedVerdict {
  if (!state.refreshed) return { kind: 'refresh-token' };
  return {
    kind: 'token-rejected',
    why: state.tokenChanged
      ? 'the transfer service answered 401 to the token and again to the refreshed one'
      : 'the transfer service answered 401, and again after a refresh that returned the same token',
  };
}
