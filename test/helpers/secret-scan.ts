/** One place a secret (or a long enough piece of it) was found. */
export interface SecretTrace {
  /** The haystack's name, e.g. `log line 12` or `receipt receipts/x.json`. */
  where: string;
  /** Which secret, by its label (never the value). */
  secret: string;
  /** The longest piece of the secret found there, and its length. */
  pieceLength: number;
  /** The surrounding text with the piece masked. */
  excerpt: string;
}

/**
 * Looks for each secret, and for every piece of it at least `minPiece` characters long, in every
 * haystack: a token cut off by a length limit leaks as much as a whole one.
 */
export function findSecretTraces(
  haystacks: ReadonlyArray<{ where: string; text: string }>,
  secrets: Readonly<Record<string, string>>,
  minPiece = 12,
): SecretTrace[] {
  const traces: SecretTrace[] = [];
  for (const { where, text } of haystacks) {
    for (const [label, secret] of Object.entries(secrets)) {
      const found = longestPiece(text, secret, minPiece);
      if (found === undefined) continue;
      const at = text.indexOf(found);
      const excerpt = `${text.slice(Math.max(0, at - 60), at)}<${label}:${found.length} chars>${text.slice(at + found.length, at + found.length + 60)}`;
      traces.push({ where, secret: label, pieceLength: found.length, excerpt });
    }
  }
  return traces;
}

/** The longest substring of `secret` (at least `minPiece` long) that occurs in `text`, if any. */
function longestPiece(text: string, secret: string, minPiece: number): string | undefined {
  for (let length = secret.length; length >= Math.min(minPiece, secret.length); length--) {
    for (let start = 0; start + length <= secret.length; start++) {
      const piece = secret.slice(start, start + length);
      if (text.includes(piece)) return piece;
    }
  }
  return undefined;
}
