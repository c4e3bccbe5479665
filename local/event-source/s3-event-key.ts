// Kept as-is by S3 in notification keys: Java URLEncoder's safe set (letters, digits, - _ . *) plus
// '/'. Everything else, including ! ' ( ) ~, is percent-encoded as UTF-8 bytes, and a space is '+'.
const KEPT = /^[A-Za-z0-9\-_.*/]$/;

/**
 * Encodes an object key the way S3 writes `s3.object.key` in event notifications:
 * form-style URL encoding (a space becomes `+`, a literal `+` becomes `%2B`) that leaves `/` alone.
 *
 * @example encodeS3EventKey('a b+c/ü.mp4') === 'a+b%2Bc/%C3%BC.mp4'
 */
export function encodeS3EventKey(key: string): string {
  let encoded = '';
  for (const char of key) {
    if (char === ' ') {
      encoded += '+';
    } else if (KEPT.test(char)) {
      encoded += char;
    } else {
      for (const byte of Buffer.from(char, 'utf8')) encoded += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return encoded;
}
