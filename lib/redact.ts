/** What stands in for a secret in anything the relay keeps or logs. */
export const REDACTED = '[redacted]';

/**
 * The pieces of an Authorization value that must never travel on: the whole value, and the
 * credential inside it (`XBL3.0 x=<userhash>;<token>` → `<token>`; `Xauth=<token>` → `<token>`).
 */
function secretParts(authorization: string): string[] {
  const parts = [authorization.trim()];
  const credential = authorization.slice(Math.max(authorization.lastIndexOf(';'), authorization.lastIndexOf('=')) + 1).trim();
  if (credential.length >= 8) parts.push(credential);
  return parts.filter((part) => part.length > 0).sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of the Authorization value or its credential replaced. */
export function redact(text: string, authorization: string): string {
  let clean = text;
  for (const part of secretParts(authorization)) clean = clean.replaceAll(part, REDACTED);
  return clean;
}
