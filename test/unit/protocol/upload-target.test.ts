import { describe, expect, it } from 'vitest';
import { UploadTargetRefusedError } from '../../../lib/protocol/errors.ts';
import { blockUrl, checkUploadTarget, displayUri } from '../../../lib/protocol/upload-target.ts';

const XBL = ['*.xboxlive.com'];

describe('Function: checkUploadTarget', () => {
  it.each([
    ['https://gameclipstransfer.xboxlive.com/clips/1', XBL],
    ['https://a.b.xboxlive.com/x?y=1', XBL],
    ['http://127.0.0.1:8080/clips/1', ['127.0.0.1']],
    ['http://localhost:9/c', ['localhost']],
    ['https://10.0.0.5/c', ['10.0.0.5']],
    ['https://h.example:8443/c', ['h.example:8443']],
    ['http://[::1]:8080/up', ['[::1]:8080']],
    ['http://[::1]:8080/up', ['[::1]']],
    ['https://[2001:db8::5]:8443/up', ['[2001:db8::5]:8443']],
    ['https://A.XBOXLIVE.COM/clips/a@b', XBL],
  ])('Should allow %s', (uri, allowed) => {
    expect(checkUploadTarget(uri, allowed).href).toBe(new URL(uri).href);
  });

  it.each([
    ['http://gameclipstransfer.xboxlive.com/c', XBL, 'plain-http'],
    ['http://127.0.0.1:8080/c', ['*.xboxlive.com', '127.0.0.2'], 'ip-literal'],
    ['https://evil.com/c', XBL, 'host-not-allowed'],
    ['https://xboxlive.com.evil.com/c', XBL, 'host-not-allowed'],
    ['https://xboxlive.com/c', XBL, 'host-not-allowed'],
    ['https://user:pw@a.xboxlive.com/c', XBL, 'userinfo'],
    ['https://@a.xboxlive.com/c', XBL, 'userinfo'],
    ['https://a.xboxlive.com/c#frag', XBL, 'fragment'],
    ['https://169.254.169.254/latest', XBL, 'ip-literal'],
    ['https://[::1]/c', XBL, 'ip-literal'],
    ['ftp://a.xboxlive.com/c', XBL, 'scheme'],
    ['file:///etc/passwd', XBL, 'scheme'],
    ['not a url', XBL, 'control-characters'],
    ['/relative/only', XBL, 'malformed'],
    ['https://a.xboxlive.com/c\r\nHost: evil', XBL, 'control-characters'],
    ['https://h.example:8443/c', ['h.example:9443'], 'host-not-allowed'],
    ['https://a.xboxlive.com:444/c', XBL, 'host-not-allowed'],
    ['http://[::1]:8081/up', ['[::1]:8080'], 'ip-literal'],
    ['http://[::1]/up', ['[::1]:8080'], 'ip-literal'],
  ])('Should refuse %s', (uri, allowed, rule) => {
    try {
      checkUploadTarget(uri, allowed);
      expect.unreachable('should have refused');
    } catch (error) {
      expect(error).toBeInstanceOf(UploadTargetRefusedError);
      expect((error as UploadTargetRefusedError).rule).toBe(rule);
    }
  });
});

describe('Function: blockUrl', () => {
  it('Should encode the uploadId as a query value and set blockNum', () => {
    const url = blockUrl(new URL('https://a.xboxlive.com/clips/1'), 'a+b/c= d&x', 7);
    expect(url.href).toBe('https://a.xboxlive.com/clips/1?uploadId=a%2Bb%2Fc%3D+d%26x&blockNum=7');
    expect(url.searchParams.get('uploadId')).toBe('a+b/c= d&x');
  });

  it('Should leave blockNum out of a single-PUT upload', () => {
    expect(blockUrl(new URL('https://a.xboxlive.com/c?blockNum=3'), 'id', undefined).href).toBe('https://a.xboxlive.com/c?uploadId=id');
  });
});

describe('Function: displayUri', () => {
  it.each([
    ['https://a.xboxlive.com/c?uploadId=secret#x', 'https://a.xboxlive.com/c'],
    ['https://user:secret@a.xboxlive.com/c', 'https://a.xboxlive.com/c'],
    ['https://a.xboxlive.com/c\r\nX-Evil: 1', 'https://a.xboxlive.com/cX-Evil:%201'],
    ['not a url?x=1', 'not a url'],
    ['weird://user:pw@[bad/c?q', 'weird://[bad/c'],
  ])('Should show %j as %j', (uri, shown) => {
    expect(displayUri(uri)).toBe(shown);
  });
});
