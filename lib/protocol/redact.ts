/** What stands in for a secret in anything the relay keeps or logs. */
export const REDACTED = '[redacted]';

/**
 * The pieces of an Authorization value that must never travel on: the whole value, and the
 * credential inside it (`XBL3.0 x=<userhash>;<token>` → `<token>`; `Xauth=<token>` → `<token>`).
 */
function secretParts(authorization: string): string[] {
  const value = authorization.trim();
  // The credential follows the first ';' (XBL3.0) or the first '=' (Xauth=): taken from the
  // left, so a token that itself ends in '=' (base64 padding) stays whole.
  const separator = value.includes(';') ? value.indexOf(';') : value.indexOf('=');
  const credential = separator < 0 ? '' : value.slice(separator + 1).trim();
  return [value, ...(credential.length >= 8 ? [credential] : [])].filter((part) => part.length > 0).sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of the Authorization value or its credential replaced. */
export function redact(text: string, authorization: string): string {
  let clean = text;
  for (const part of secretParts(authorization)) clean = clean.replaceAll(part, REDACTED);
  return clean;
}
