import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { NodeSha256 } from '../../core/keys/NodeSha256.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('NodeSha256', () => {
  describe('when built without a secret', () => {
    it('is SHA-256 (FIPS 180-2 vectors), text as UTF-8, bytes of any view', async () => {
      // Prepare
      const abc = new NodeSha256();
      const chunked = new NodeSha256();
      const views = new NodeSha256();
      const empty = new NodeSha256();
      // Act
      abc.update('abc');
      chunked.update('abcdbcdecdefdefgefghfghighijhijk');
      chunked.update(new TextEncoder().encode('ijkljklmklmnlmnomnopnopq'));
      const bytes = new TextEncoder().encode('xxabcxx');
      views.update(new DataView(bytes.buffer, 2, 3));
      // Assess
      expect(hex(await abc.digest())).toBe(
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      );
      expect(hex(await chunked.digest())).toBe(
        '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
      );
      expect(hex(await views.digest())).toBe(hex(await abc.digest()));
      expect(hex(await empty.digest())).toBe(
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      );
      expect(abc.digestLength).toBe(32);
    });
  });

  describe('when built with a secret', () => {
    it('is HMAC-SHA-256 (RFC 4231 test case 2), and reset restarts it with the same secret', async () => {
      // Prepare
      const mac = new NodeSha256('Jefe');
      const keyBytes = new NodeSha256(new TextEncoder().encode('Jefe').buffer as ArrayBuffer);
      // Act
      mac.update('what do ya want ');
      mac.update('for nothing?');
      const first = hex(await mac.digest());
      mac.reset();
      mac.update('what do ya want for nothing?');
      keyBytes.update('what do ya want for nothing?');
      // Assess
      const expected = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843';
      expect(first).toBe(expected);
      expect(hex(await mac.digest())).toBe(expected);
      expect(hex(await keyBytes.digest())).toBe(expected);
    });
  });

  describe('when digested twice or updated after the digest', () => {
    it('gives the same digest again and refuses the update', async () => {
      // Prepare
      const h = new NodeSha256();
      h.update('abc');
      // Act
      const a = await h.digest();
      const b = await h.digest();
      // Assess
      expect(hex(b)).toBe(hex(a));
      expect(() => h.update('more')).toThrow(/already digested/);
    });
  });

  describe('when smithy signs with it', () => {
    it('produces the AWS SigV4 test suite signature for `get-vanilla`', async () => {
      // Prepare: aws-sig-v4-test-suite/get-vanilla with its documented example keys
      const signer = new SignatureV4({
        credentials: {
          accessKeyId: 'AKIDEXAMPLE',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        },
        region: 'us-east-1',
        service: 'service',
        sha256: NodeSha256,
        applyChecksum: false,
      });
      const request = new HttpRequest({
        method: 'GET',
        hostname: 'example.amazonaws.com',
        path: '/',
        headers: { host: 'example.amazonaws.com' },
      });
      // Act
      const signed = await signer.sign(request, { signingDate: new Date('2015-08-30T12:36:00Z') });
      // Assess
      expect(signed.headers['authorization']).toBe(
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ' +
          'SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
      );
    });
  });
});
