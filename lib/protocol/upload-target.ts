import { UploadTargetRefusedError } from './errors.ts';
import { MAX_UPLOAD_URI_CHARS } from './limits.ts';

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f-\u009f]/;

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
// `*.domain` (two labels at least, no port), or a host name or bracketed IPv6 literal with an optional port.
const HOST_PATTERN = new RegExp(`^(?:\\*\\.${LABEL}(?:\\.${LABEL})+|(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9a-f:.]+\\])(?::(\\d{1,5}))?)$`);

/**
 * What is wrong with an allowlist entry, or undefined when it is a host pattern
 * {@link checkUploadTarget} can match: `host`, `*.domain` or `host:port`, lower case, with no
 * scheme, user info, path or wildcard elsewhere. Checked when the configuration is read, so a
 * pattern that could match nothing fails at cold start instead of refusing every upload.
 */
export function hostPatternProblem(pattern: string): string | undefined {
  const match = HOST_PATTERN.exec(pattern);
  if (match === null) return `"${pattern}" is not a host pattern: write host, *.domain or host:port (no scheme, path or user info)`;
  const port = match[1] === undefined ? undefined : Number(match[1]);
  if (port !== undefined && (port < 1 || port > 65535)) return `"${pattern}" has port ${port}, outside 1-65535`;
  return undefined;
}

/**
 * True when `pattern` admits `url`'s host: `*.domain` any subdomain on the scheme's default
 * port, `host` that host on any port, `host:port` exactly.
 */
function hostAllowed(url: URL, pattern: string): boolean {
  if (pattern.startsWith('*.')) return url.port === '' && url.hostname.endsWith(pattern.slice(1)) && url.hostname.length > pattern.length - 1;
  return pattern.includes(':') && !pattern.startsWith('[') ? pattern === url.host : pattern === url.hostname;
}

/** True when an entry names `url`'s host exactly (no wildcard): the opt-in that IP literals and plain http need. */
function namedExactly(url: URL, allowedHosts: readonly string[]): boolean {
  return allowedHosts.some((pattern) => !pattern.startsWith('*.') && hostAllowed(url, pattern));
}

/**
 * Checks an upload (or redirect) target before any connection is opened: https only (plain
 * http for loopback hosts named exactly in the allowlist), no userinfo, no fragment, no
 * control characters, an IP literal only when named exactly, and a host the allowlist admits.
 *
 * @throws UploadTargetRefusedError whose `rule` names the rule that refused it
 */
export function checkUploadTarget(uri: string, allowedHosts: readonly string[]): URL {
  if (CONTROL_OR_SPACE.test(uri)) throw new UploadTargetRefusedError('control-characters', 'upload URI contains whitespace or control characters');
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new UploadTargetRefusedError('malformed', 'upload URI is not an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UploadTargetRefusedError('scheme', `upload URI scheme ${url.protocol} is not https`);
  }
  // The authority as written, up to the path: an '@' there is user info, even an empty one.
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(uri)?.[1] ?? '';
  if (url.username || url.password || authority.includes('@')) {
    throw new UploadTargetRefusedError('userinfo', 'upload URI must not carry user info');
  }
  if (uri.includes('#')) throw new UploadTargetRefusedError('fragment', 'upload URI must not carry a fragment');
  const isIpLiteral = IPV4.test(url.hostname) || url.hostname.startsWith('[');
  if (isIpLiteral && !namedExactly(url, allowedHosts)) {
    throw new UploadTargetRefusedError('ip-literal', `upload URI host ${url.hostname} is an IP address not named in the allowlist`);
  }
  if (!allowedHosts.some((pattern) => hostAllowed(url, pattern))) {
    throw new UploadTargetRefusedError('host-not-allowed', `upload URI host ${url.host} is not in the allowlist (${allowedHosts.join(', ')})`);
  }
  if (url.protocol === 'http:' && !(LOOPBACK.test(url.hostname) && namedExactly(url, allowedHosts))) {
    throw new UploadTargetRefusedError('plain-http', `plain http is refused for ${url.host}: only loopback hosts named in the allowlist may use it`);
  }
  return url;
}

/** The PUT URL of one block: uploadId (and blockNum when the session has blocks) as encoded query values. */
export function blockUrl(target: URL, uploadId: string, blockNum: number | undefined): URL {
  const url = new URL(target);
  url.searchParams.set('uploadId', uploadId);
  if (blockNum === undefined) url.searchParams.delete('blockNum');
  else url.searchParams.set('blockNum', String(blockNum));
  return url;
}

/**
 * An upload URI fit for receipts and logs: scheme, host and path only. No user info, query
 * (it may hold the uploadId) or fragment, and no control characters, even when it does not parse.
 */
export function displayUri(uri: string): string {
  const printable = uri.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
  try {
    const url = new URL(printable);
    return `${url.protocol}//${url.host}${url.pathname}`.slice(0, MAX_UPLOAD_URI_CHARS);
  } catch {
    return printable.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1').split(/[?#]/, 1)[0]!.slice(0, MAX_UPLOAD_URI_CHARS);
  }
}
