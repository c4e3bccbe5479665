import { describe, expect, it } from 'vitest';
import { redact } from '../../../lib/protocol/redact.ts';

describe('Function: redact', () => {
  it.each([
    ['the whole header value', 'XBL3.0 x=123;tok_ABCDEFGHIJ', 'bad auth XBL3.0 x=123;tok_ABCDEFGHIJ', 'bad auth [redacted]'],
    ['the bare XBL token', 'XBL3.0 x=123;tok_ABCDEFGHIJ', 'token tok_ABCDEFGHIJ expired', 'token [redacted] expired'],
    ['a token that ends in "=" (base64 padding)', 'XBL3.0 x=123;dG9rZW4tdmFsdWU=', 'got dG9rZW4tdmFsdWU=!', 'got [redacted]!'],
    ['an Xauth token', 'Xauth=abcdefghijkl==', 'Xauth=abcdefghijkl== and abcdefghijkl==', '[redacted] and [redacted]'],
    ['text without the token', 'XBL3.0 x=123;tok_ABCDEFGHIJ', 'upload id not found', 'upload id not found'],
  ])('Should redact %s', (_name, authorization, text, clean) => {
    expect(redact(text, authorization)).toBe(clean);
  });
});
