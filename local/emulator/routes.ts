/**
 * Path prefixes under which a session's upload URI is served. `/clips/{gameClipId}` is the
 * canonical one; `/moved/clips/{gameClipId}` is the same session, for redirect tests whose
 * `Location` points elsewhere on this emulator.
 */
export const CLIP_PATH_PREFIXES = ['/clips/', '/moved/clips/'] as const;

/** The canonical path of a clip's upload URI. */
export function clipPath(gameClipId: string): string {
  return `${CLIP_PATH_PREFIXES[0]}${encodeURIComponent(gameClipId)}`;
}

/** The alternate path serving the same session, to use as a redirect target. */
export function movedClipPath(gameClipId: string): string {
  return `${CLIP_PATH_PREFIXES[1]}${encodeURIComponent(gameClipId)}`;
}

/** Extracts the gameClipId from a request path, or undefined when no clip route matches. */
export function parseClipPath(pathname: string): string | undefined {
  for (const prefix of CLIP_PATH_PREFIXES) {
    if (!pathname.startsWith(prefix)) continue;
    const segment = pathname.slice(prefix.length);
    if (segment === '' || segment.includes('/')) return undefined;
    try {
      return decodeURIComponent(segment);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
