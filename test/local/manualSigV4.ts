import { createHash, createHmac } from 'node:crypto';

/**
 * A deliberately small SigV4 signer for tests, independent of smithy, botocore and the verifier. Unlike
 * those clients it signs exactly the headers it is given, so it can time a request by its `date`
 * header alone (smithy and botocore always replace `date` with their own `x-amz-date`). It covers only
 * what the tests need: a path of unreserved characters and a query of unreserved keys and values, so
 * neither needs escaping. Checked against AWS's published test vectors in `sigv4.test.ts`.
 */
export interface ManualRequest {
  method: string;
  path: string;
  /** `key=value` pairs joined by `&`, unreserved characters only. */
  query?: string;
  /** Every header here is signed. */
  headers: Record<string, string>;
  /** Hashed as UTF-8 when a string, as is when bytes. */
  body?: string | Uint8Array;
}

export interface ManualSigning {
  accessKeyId: string;
  secretAccessKey: string;
  /** The credential scope's date, `yyyymmdd`. */
  scopeDate: string;
  region: string;
  service: string;
  /** The request time in the string to sign, `yyyymmddThhmmssZ`. */
  time: string;
}

const UNRESERVED = /^[A-Za-z0-9\-._~/]*$/;

/** The `Authorization` header value for `req`. */
export function manualAuthorization(req: ManualRequest, s: ManualSigning): string {
  if (!UNRESERVED.test(req.path)) throw new Error(`manual signer: path \`${req.path}\` needs escaping`);
  const pairs = (req.query ?? '').split('&').filter(Boolean);
  for (const pair of pairs) {
    if (!/^[A-Za-z0-9\-._~]+=[A-Za-z0-9\-._~]*$/.test(pair)) throw new Error(`manual signer: \`${pair}\``);
  }
  const names = Object.keys(req.headers)
    .map((n) => n.toLowerCase())
    .sort();
  const value = (name: string) =>
    (Object.entries(req.headers).find(([n]) => n.toLowerCase() === name)?.[1] ?? '')
      .replace(/\s+/g, ' ')
      .trim();
  const canonical = [
    req.method,
    req.path,
    pairs.sort().join('&'),
    ...names.map((n) => `${n}:${value(n)}`),
    '',
    names.join(';'),
    sha256(req.body ?? ''),
  ].join('\n');
  const scope = `${s.scopeDate}/${s.region}/${s.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', s.time, scope, sha256(canonical)].join('\n');
  let key: Buffer = hmac(`AWS4${s.secretAccessKey}`, s.scopeDate);
  for (const part of [s.region, s.service, 'aws4_request']) key = hmac(key, part);
  const signature = hmac(key, stringToSign).toString('hex');
  return `AWS4-HMAC-SHA256 Credential=${s.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
}

/** `yyyymmddThhmmssZ` */
export function amzTime(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}/, '')
    .replace(/[-:]/g, '');
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}
