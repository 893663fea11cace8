import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { lineBatches } from '../../audit/readAuditInput.js';

async function byReadline(chunks: Buffer[]): Promise<string[]> {
  const lines: string[] = [];
  const rl = createInterface({ input: Readable.from(chunks), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) lines.push(line);
  return lines;
}

async function byBatches(chunks: Buffer[]): Promise<string[]> {
  const lines: string[] = [];
  for await (const batch of lineBatches(Readable.from(chunks))) lines.push(...batch);
  return lines;
}

/** Every way of cutting `text` into chunks of 1 to 3 bytes is too many; these cut at every offset once. */
function cuts(text: string): Buffer[][] {
  const bytes = Buffer.from(text, 'utf8');
  const out: Buffer[][] = [[bytes]];
  for (let at = 1; at < bytes.length; at++) out.push([bytes.subarray(0, at), bytes.subarray(at)]);
  out.push([...bytes].map((b) => Buffer.from([b])));
  return out;
}

describe('lineBatches (the JSONL reader of zt-audit verify)', () => {
  it('splits lines exactly as readline does, whatever the chunk boundaries', async () => {
    const texts = [
      '',
      'a',
      'a\n',
      'a\nb',
      'a\n\nb\n',
      'a\r\nb\r\n',
      'a\rb\r',
      'a\r\r\nb',
      '\n\r\n\r',
      'é\r\nü\n€\r',
      '{"seq":1}\n{"seq":2}\r\n  \n{"seq":3}',
    ];
    for (const text of texts) {
      for (const chunks of cuts(text)) {
        expect(await byBatches(chunks), JSON.stringify(text)).toEqual(await byReadline(chunks));
      }
    }
  });
});
