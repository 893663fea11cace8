import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZeroTrustClient } from '../../sdk/index.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { startTestEmulator, type TestEmulator, ztAsAdmin } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';

/**
 * The console in a real headless Chromium: Debian's `chromium` driven by `playwright-core` (no browser of
 * its own is downloaded: `executablePath` names the system one). The few Playwright calls used, typed here so
 * the suite typechecks where the package is absent.
 */
/** What a test reads of a DOM node inside `evaluate` (the project compiles without the DOM lib). */
interface DomNode {
  children: ArrayLike<DomNode>;
  textContent: string | null;
}
/** The page's `getComputedStyle`, reached through `globalThis` inside the browser. */
type StyleOf = { getComputedStyle(node: DomNode): { backgroundColor: string } };
interface Locator {
  count(): Promise<number>;
  locator(selector: string): Locator;
  first(): Locator;
  textContent(): Promise<string | null>;
  getAttribute(name: string): Promise<string | null>;
  evaluate<T>(fn: (node: DomNode) => T): Promise<T>;
  waitFor(options: { state?: 'attached' | 'visible'; timeout?: number }): Promise<void>;
  click(): Promise<void>;
  isDisabled(): Promise<boolean>;
}
interface Page {
  goto(url: string): Promise<{ status(): number } | null>;
  url(): string;
  locator(selector: string): Locator;
  evaluate<T>(fn: string): Promise<T>;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  on(event: 'pageerror', fn: (error: Error) => void): void;
}
interface Browser {
  newContext(options?: { viewport?: { width: number; height: number } }): Promise<{
    newPage(): Promise<Page>;
    close(): Promise<void>;
  }>;
  close(): Promise<void>;
}
interface Playwright {
  chromium: {
    launch(options: { executablePath: string; args: string[]; headless: boolean }): Promise<Browser>;
  };
}

const CHROMIUM = '/usr/bin/chromium';
const PLAYWRIGHT = 'playwright-core';
let playwright: Playwright | null = null;
try {
  // A variable specifier: the package is optional, and the suite must compile without it.
  playwright = (await import(PLAYWRIGHT)) as Playwright;
} catch {
  playwright = null;
}
const SKIP = !existsSync(CHROMIUM)
  ? 'chromium is missing: apt-get install -y chromium (the Debian package `chromium`)'
  : playwright === null
    ? 'the npm package `playwright-core` is not installed: npm install --save-dev --save-exact playwright-core'
    : null;
if (SKIP) console.warn(SKIP);

/** Where the run's screenshots go (kept after the run, to look at). */
const SHOTS = join(tmpdir(), 'zt-console-screenshots');
const WAIT_MS = 15_000;

describe('when the console is used in a real headless Chromium', () => {
  let emulator: TestEmulator;
  let browser: Browser | null = null;
  let page: Page;
  let closeContext: () => Promise<void> = async () => undefined;
  let agent: AwsCredentials;
  let client: ZeroTrustClient;

  const zt = (argv: string[]) => ztAsAdmin(emulator, argv, tmpdir());

  beforeAll(async () => {
    if (SKIP || !playwright) return;
    emulator = await startTestEmulator({
      approvers: ['alice'],
      console: { port: 0, verifyMinIntervalMs: 200, approver: 'alice' },
      checkpoints: { everyRecords: 1 },
    });
    const reg = await send(emulator.url, 'POST', '/agents', {
      credentials: emulator.adminCredentials,
      body: { agentId: 'builder' },
    });
    agent = (reg.body as { credentials: AwsCredentials }).credentials;
    const keys = await send(emulator.url, 'GET', '/keys', { credentials: emulator.adminCredentials });
    const root = (keys.body as { keys: Array<{ role: string; publicKeyPem: string }> }).keys.find(
      (k) => k.role === 'root',
    );
    client = new ZeroTrustClient({
      endpoint: emulator.url,
      credentials: agent,
      trustedKeys: [root?.publicKeyPem as string],
      retries: 0,
    });
    browser = await playwright.chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    closeContext = () => context.close();
    page = await context.newPage();
    await mkdir(SHOTS, { recursive: true });
  }, 60_000);
  afterAll(async () => {
    await closeContext();
    await browser?.close();
    await emulator?.close();
  });

  it('refuses the page without the token: 401 and no data in it', async (ctx) => {
    if (SKIP) return ctx.skip(SKIP);
    const url = emulator.console?.url as string;
    const answer = await page.goto(url);
    expect(answer?.status()).toBe(401);
    const text = (await page.locator('body').textContent()) ?? '';
    expect(text).toContain('TOKEN_REQUIRED');
    expect(await page.locator('#timeline').count()).toBe(0);
    const wrong = await page.goto(`${url}?token=not-the-token`);
    expect(wrong?.status()).toBe(401);
    expect(await page.locator('#timeline').count()).toBe(0);
  });

  it('loads with the token, which leaves the address bar for a cookie', async (ctx) => {
    if (SKIP) return ctx.skip(SKIP);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const answer = await page.goto(emulator.console?.loginUrl as string);
    expect(answer?.status()).toBe(200);
    expect(page.url()).toBe(emulator.console?.url);
    await page.locator('#timeline-empty').waitFor({ state: 'visible', timeout: WAIT_MS });
    // The cookie is HttpOnly: the page's own scripts cannot read the token.
    expect(await page.evaluate<string>('document.cookie')).toBe('');
    expect(errors).toEqual([]);
  });

  it('shows a decision an SDK client makes without a reload, and highlights a deny', async (ctx) => {
    if (SKIP) return ctx.skip(SKIP);
    expect((await zt(['policies', 'allow', '--action', 'repo.build', '--agent', 'builder'])).code).toBe(0);
    // The page stays as it is: whatever appears comes from its polling.
    await page.evaluate('window.__notReloaded = true');
    const allowed = await client.decide({ actor: 'builder', action: 'repo.build', resource: 'main' });
    expect(allowed.decision).toBe('allow');
    const row = page.locator(`#timeline tbody tr[data-id="${allowed.recordId}"]`);
    await row.waitFor({ state: 'visible', timeout: WAIT_MS });
    expect(await row.getAttribute('data-decision')).toBe('allow');

    // A resource an agent chose, with markup in it: shown as text, never run.
    const denied = await client.decide({
      actor: 'builder',
      action: 'repo.force_push',
      resource: '<img src=x onerror="window.__owned=1">',
    });
    expect(denied.decision).toBe('deny');
    const denyRow = page.locator(`#timeline tbody tr[data-id="${denied.recordId}"]`);
    await denyRow.waitFor({ state: 'visible', timeout: WAIT_MS });
    expect(await denyRow.getAttribute('class')).toContain('deny');
    // Highlighted: the deny row's cells are tinted, the allow row's are not.
    const background = (l: Locator) =>
      l.evaluate(
        (tr) =>
          (globalThis as unknown as StyleOf).getComputedStyle(tr.children[1] as DomNode).backgroundColor,
      );
    expect(await background(denyRow)).not.toBe(await background(row));
    expect(await denyRow.evaluate((tr) => (tr.children[5] as DomNode).textContent)).toBe(
      '<img src=x onerror="window.__owned=1">',
    );
    expect(await page.evaluate<unknown>('window.__owned')).toBeUndefined();
    expect(await page.evaluate<unknown>('window.__notReloaded')).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'timeline.png'), fullPage: true });
  }, 60_000);

  it('lists a policy put through zt, and marks a shadow one', async (ctx) => {
    if (SKIP) return ctx.skip(SKIP);
    const cedarFile = join(SHOTS, 'no-deletes.cedar');
    await writeFile(cedarFile, 'forbid (principal, action == Action::"repo.delete", resource);\n');
    const put = await zt([
      'policies',
      'put',
      'no-deletes',
      '--file',
      cedarFile,
      '--description',
      'never delete',
    ]);
    expect(put.code, put.stderr).toBe(0);
    // zt has no shadow flag: the route takes `mode`.
    const shadow = await send(emulator.url, 'PUT', '/policies/try-stricter', {
      credentials: emulator.adminCredentials,
      body: { cedar: 'forbid (principal, action, resource);', mode: 'shadow' },
    });
    expect(shadow.status).toBe(200);
    await page.goto(`${emulator.console?.url}#policies`);
    const card = page.locator('#policies article[data-policy-id="no-deletes"]');
    await card.waitFor({ state: 'visible', timeout: WAIT_MS });
    expect(await card.getAttribute('data-mode')).toBe('enforce');
    expect(await card.locator('pre').textContent()).toContain('Action::"repo.delete"');
    const shadowCard = page.locator('#policies article[data-policy-id="try-stricter"]');
    await shadowCard.waitFor({ state: 'visible', timeout: WAIT_MS });
    expect(await shadowCard.getAttribute('data-mode')).toBe('shadow');
    expect(await shadowCard.locator('.shadow-tag').textContent()).toBe('shadow');
    await page.screenshot({ path: join(SHOTS, 'policies.png'), fullPage: true });
  }, 60_000);

  it('shows the agents, the actions and whether the log verifies', async (ctx) => {
    if (SKIP) return ctx.skip(SKIP);
    await page.goto(`${emulator.console?.url}#agents`);
    const builder = page.locator('#agents tbody tr[data-name="builder"]');
    await builder.waitFor({ state: 'visible', timeout: WAIT_MS });
    expect(
      await builder.evaluate((tr) => Array.from(tr.children, (td) => td.textContent).slice(0, 3)),
    ).toEqual(['builder', '1', '1']);
    await page.screenshot({ path: join(SHOTS, 'agents.png'), fullPage: true });
    // Picking an action shows only its decisions.
    await page.goto(`${emulator.console?.url}#actions`);
    const pick = page.locator('#actions tbody tr[data-name="repo.force_push"] button');
    await pick.waitFor({ state: 'visible', timeout: WAIT_MS });
    await pick.click();
    await page.locator('#filter-text').waitFor({ state: 'visible', timeout: WAIT_MS });
    expect(await page.locator('#filter-text').textContent()).toBe('action repo.force_push');
    const rows = page.locator('#timeline tbody tr');
    for (let i = 0; i < 100 && (await rows.count()) !== 1; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await rows.count()).toBe(1);
    expect(await rows.first().getAttribute('data-decision')).toBe('deny');
    await page.goto(`${emulator.console?.url}#log`);
    const badge = page.locator('#log-badge');
    // The log is verified in the background: bounded wait for a run that covers every record.
    let seen: Array<string | null> = [];
    for (let i = 0; i < 200; i++) {
      seen = await Promise.all(
        ['data-status', 'data-checked', 'data-total'].map((a) => badge.getAttribute(a)),
      );
      if (seen[1] !== '' && seen[1] === seen[2]) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(['valid', 'incomplete']).toContain(seen[0]);
    expect(Number(seen[1])).toBeGreaterThanOrEqual(7);
    expect(seen[1]).toBe(seen[2]);
    await page.locator('#lanes tbody tr[data-lane="main"]').waitFor({ state: 'visible', timeout: WAIT_MS });
    await page.screenshot({ path: join(SHOTS, 'log.png'), fullPage: true });
  }, 60_000);

  it('approves from the inbox: a guard waiting on an @approval policy then runs its function once', async (ctx) => {
    if (SKIP) return ctx.skip(SKIP);
    const put = await send(emulator.url, 'PUT', '/policies/prod-deploys', {
      credentials: emulator.adminCredentials,
      body: {
        cedar:
          '@approval\npermit (principal == Agent::"builder", action == Action::"deploy.prod", resource);',
      },
    });
    expect(put.status).toBe(200);
    let runs = 0;
    const guarded = client.guard(
      { actor: 'builder', action: 'deploy.prod', resource: 'web', params: { version: '1.2.3' } },
      async () => {
        runs++;
        return 'deployed';
      },
      { waitForApproval: { timeoutMs: 30_000, pollMs: 200 } },
    );
    // Nothing runs while it waits: the request is in the inbox, with its params and the approver.
    await page.goto(`${emulator.console?.url}#approvals`);
    const card = page.locator('#approvals article.approval').first();
    await card.waitFor({ state: 'visible', timeout: WAIT_MS });
    expect(await card.locator('h3').textContent()).toContain('deploy.prod');
    expect(await card.locator('pre.params').textContent()).toContain('"version": "1.2.3"');
    expect(await card.locator('.need').textContent()).toBe('0 of 1 approvals');
    expect(await page.locator('#mode').textContent()).toBe('approver: alice');
    expect(runs).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'approvals.png'), fullPage: true });
    await card.locator('button[data-verdict="approve"]').click();
    const result = page.locator('#approval-result');
    await result.waitFor({ state: 'visible', timeout: WAIT_MS });
    expect(await result.getAttribute('data-code'), (await result.textContent()) ?? '').toBe('OK');
    expect(await guarded).toBe('deployed');
    expect(runs).toBe(1);
    // The verdict is the approver's record, not the admin's or the console's.
    const audit = await send(emulator.url, 'GET', '/audit?limit=1000', {
      credentials: emulator.adminCredentials,
    });
    const records = (audit.body as { records: Array<Record<string, unknown>> }).records;
    const approval = records.filter((r) => r['kind'] === 'approval');
    expect(approval).toHaveLength(1);
    expect(approval[0]?.['principal_arn']).toBe(emulator.approvers[0]?.principalArn);
    // Claimed: the inbox empties at its next poll.
    await page.locator('#approvals-empty').waitFor({ state: 'visible', timeout: WAIT_MS });
    await page.screenshot({ path: join(SHOTS, 'approvals-done.png'), fullPage: true });
  }, 60_000);
});
