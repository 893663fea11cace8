/**
 * A one-line progress bar on a terminal (stderr): records, rate, and a share of the bytes when the input
 * size is known. Redrawn at most every 200 ms, so it costs nothing measurable.
 */
export class Progress {
  readonly #out: { write(chunk: string): unknown };
  readonly #total: number | null;
  readonly #started = Date.now();
  #bytes = 0;
  #last = 0;
  #drawn = false;

  constructor(out: { write(chunk: string): unknown }, totalBytes: number | null) {
    this.#out = out;
    this.#total = totalBytes;
  }

  /** Wraps the input to count its bytes. */
  async *count(source: AsyncIterable<string | Uint8Array>): AsyncIterable<string | Uint8Array> {
    for await (const chunk of source) {
      this.#bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      yield chunk;
    }
  }

  update(records: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.#last < 200) return;
    this.#last = now;
    const seconds = Math.max((now - this.#started) / 1000, 0.001);
    const rate = Math.round(records / seconds).toLocaleString('en-US');
    let bar = '';
    if (this.#total) {
      const share = Math.min(1, this.#bytes / this.#total);
      const filled = Math.round(share * 30);
      bar = `[${'#'.repeat(filled)}${'-'.repeat(30 - filled)}] ${String(Math.floor(share * 100)).padStart(3)}% `;
    }
    this.#out.write(`\rzt-audit: ${bar}${records.toLocaleString('en-US')} records, ${rate}/s `);
    this.#drawn = true;
  }

  end(records: number): void {
    if (!this.#drawn) return;
    this.update(records, true);
    this.#out.write('\n');
  }
}
