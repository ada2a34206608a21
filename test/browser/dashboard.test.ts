import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFiles } from '../../bench/generate.js';
import { Importer } from '../../src/modules/importer/importer.js';
import { startService, type Service } from '../../src/service.js';
import { createTestDatabase, tempDir, testConfig } from '../helpers.js';
import {
  CHROMIUM,
  launchChromium,
  readApi,
  readApiRejects,
  readPage,
  readPageRejects,
  waitInPage,
  type Figures,
  type PageFigures,
} from './dashboard-page.js';

const IN_CI = ['true', '1'].includes((process.env.CI ?? '').toLowerCase());
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM && !IN_CI)
  console.warn(
    `dashboard browser test skipped: ${CHROMIUM} is missing (apt-get install -y chromium, or set CHROMIUM_PATH)`,
  );

const REJECTS_PAGE = 25; // as in public/assets/dashboard.js
const SCREENSHOT = path.resolve('test-results/dashboard.png');
const DOCS_SCREENSHOT = path.resolve('docs/dashboard.png'); // UPDATE_DOCS_SCREENSHOT=1 npm test

/**
 * One generated day per month with a growing merchant base, so every chart has a story: four
 * months at start-up, a fifth imported while the page is open.
 */
const MONTHS = [
  { start: '2024-01-16', merchants: 40 },
  { start: '2024-02-14', merchants: 55 },
  { start: '2024-03-13', merchants: 70 },
  { start: '2024-04-17', merchants: 90 },
];
const LATER = { start: '2024-05-15', merchants: 115 };
const ROWS_PER_DAY = 1500;

/** Every figure on the page equals the API's, number by number as exact text, in the same order. */
function expectSame(shown: PageFigures, api: Figures): void {
  expect(shown.monthly).toEqual(api.monthly);
  expect(shown.adoption).toEqual(api.adoption);
  expect(shown.kyc).toEqual(api.kyc);
  expect(shown.failures).toEqual(api.failures);
  expect(shown.top).toEqual(api.top);
  expect(shown.leaders).toEqual(api.leaders);
  expect(shown.ledger).toEqual(api.ledger);
  // Money keeps its two decimals and rates their one: nothing went through a double.
  for (const row of shown.leaders) expect(row.total_volume).toMatch(/^\d+\.\d{2}$/);
  if (shown.top) expect(shown.top.total_volume).toMatch(/^\d+\.\d{2}$/);
  for (const [, rate] of shown.failures) expect(rate).toMatch(/^\d+\.\d$/);
  // What a person reads is the value with thousands separators only.
  for (const { testid, value, text } of shown.texts)
    expect(text.replace(/,/g, '').replace(/%$/, ''), testid).toBe(value);
  // The charts draw the same data.
  const numbers = (pairs: Array<[string, string]>) => pairs.map(([, v]) => Number(v));
  const keys = (pairs: Array<[string, string]>) => pairs.map(([k]) => k);
  expect(shown.charts.mam).toEqual({ labels: keys(api.monthly), data: numbers(api.monthly) });
  expect(shown.charts.adoption).toEqual({
    labels: keys(api.adoption),
    data: numbers(api.adoption),
  });
  expect(shown.charts.failure).toEqual({
    labels: keys(api.failures),
    data: numbers(api.failures),
  });
  const funnel = (shown.charts.kyc.data as Array<[number, number]>).map(([lo, hi]) => hi - lo);
  expect(funnel).toEqual(numbers(api.kyc));
}

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('the dashboard at GET /', () => {
  let service: Service;
  let database: { url: string; drop: () => Promise<void> };
  let browser: Browser;
  let page: Page;
  let base: string;
  let laterFile: string;
  const problems: string[] = [];

  const apiVersion = async (): Promise<string> =>
    String(((await (await fetch(`${base}/health`)).json()) as { dataVersion: number }).dataVersion);

  /** Waits until the page shows this data version for this range. */
  const shows = (version: string, range = '') =>
    waitInPage(
      page,
      `document.body.dataset.state === 'ready' && document.body.dataset.version === ${JSON.stringify(version)} && (document.body.dataset.range || '') === ${JSON.stringify(range)}`,
      10_000,
    );

  beforeAll(async () => {
    if (!HAVE_CHROMIUM)
      throw new Error(
        `${CHROMIUM} is missing and CI is set: the dashboard browser test needs Chromium ` +
          '(apt-get install -y chromium; .ci/run installs it), or CHROMIUM_PATH',
      );
    const dataDir = await tempDir();
    const laterDir = await tempDir();
    await Promise.all([
      ...MONTHS.map((m, i) =>
        generateFiles({
          days: 1,
          rowsPerDay: ROWS_PER_DAY,
          seed: 11 + i,
          outDir: dataDir,
          startDate: m.start,
          merchants: m.merchants,
        }),
      ),
      generateFiles({
        days: 1,
        rowsPerDay: ROWS_PER_DAY,
        seed: 99,
        outDir: laterDir,
        startDate: LATER.start,
        merchants: LATER.merchants,
      }),
    ]);
    laterFile = path.join(laterDir, `activities_${LATER.start.replaceAll('-', '')}.csv`);
    database = await createTestDatabase();
    [service, browser] = await Promise.all([
      startService(testConfig({ databaseUrl: database.url, dataDir, watchDataDir: false })),
      launchChromium(),
    ]);
    await service.startupImport;
    base = await service.app.listen({ port: 0, host: '127.0.0.1' });
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      reducedMotion: 'reduce', // no chart animation: what is read and photographed is final
      timezoneId: 'UTC',
      locale: 'en-GB',
    });
    page = await context.newPage();
    page.on('console', (message) => {
      if (['error', 'warning'].includes(message.type())) problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('requestfailed', (request) => problems.push(`failed: ${request.url()}`));
  });

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    await database?.drop();
  });

  it('serves the page with a CSP allowing only its own scripts and styles', async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toMatch(/https?:/);
    const chart = await fetch(`${base}/assets/chart.umd.min.js`);
    expect(chart.status).toBe(200);
    expect(chart.headers.get('content-type')).toContain('javascript');
    expect((await fetch(`${base}/assets/nope.js`)).status).toBe(404);
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: object };
    const paths = Object.keys(openapi.paths);
    expect(
      paths.filter((p) => p === '/' || p.startsWith('/assets') || p.endsWith('.html')),
    ).toEqual([]);
  });

  it('shows exactly the API figures: every chart, the top merchants and the ledger', async () => {
    await page.goto(`${base}/`);
    await shows(await apiVersion());
    expectSame(await readPage(page), await readApi(base, ''));
    expect(await page.locator('h1').textContent()).toBe('Merchant activity');
  });

  it('applies a month range to every figure, and resets it', async () => {
    await page.selectOption('#from', '2024-02');
    await page.selectOption('#to', '2024-03');
    await page.click('#range-apply');
    const version = await apiVersion();
    await shows(version, 'from=2024-02&to=2024-03');
    const ranged = await readPage(page);
    expectSame(ranged, await readApi(base, 'from=2024-02&to=2024-03'));
    expect(ranged.monthly.map(([month]) => month)).toEqual(['2024-02', '2024-03']);
    expect(page.url()).toBe(`${base}/?from=2024-02&to=2024-03`);
    await page.click('#range-reset');
    await shows(version, '');
    expect((await readPage(page)).monthly).toHaveLength(MONTHS.length);
  });

  it('drills from a run to its rejects by reason, page by page, with the keyboard', async () => {
    const button = page.locator('[data-testid="ledger-rejects"]').first();
    const run = (await button.getAttribute('data-run-id')) as string;
    await button.focus();
    await page.keyboard.press('Enter');
    const loaded = (reason: string, after: string) =>
      waitInPage(
        page,
        `document.getElementById('rejects').dataset.state === 'ready' && document.getElementById('rejects').dataset.key === ${JSON.stringify(`${run}|${reason}|${after}`)}`,
        5_000,
      );
    await loaded('', '0');
    expect(await page.evaluate('document.activeElement.id')).toBe('rejects-title');
    expect(await button.getAttribute('aria-expanded')).toBe('true');

    const first = await readApiRejects(base, run, '', '0', REJECTS_PAGE);
    let shown = await readPageRejects(page);
    const total = Object.values(first.reasonCounts).reduce((s, n) => s + Number(n), 0);
    expect(Object.fromEntries(shown.reasons)).toEqual({ '': String(total), ...first.reasonCounts });
    expect(shown.rows).toEqual(first.items);
    expect(first.nextAfter).not.toBeNull(); // the fixture has more than one page of rejects

    await page.click('#rejects-next');
    await loaded('', first.nextAfter as string);
    const second = await readApiRejects(base, run, '', first.nextAfter as string, REJECTS_PAGE);
    shown = await readPageRejects(page);
    expect(shown.rows).toEqual(second.items);
    expect(shown.rows.length).toBeGreaterThan(0);

    const [reason] = Object.entries(first.reasonCounts).sort(
      (a, b) => Number(b[1]) - Number(a[1]),
    )[0]!;
    await page.locator(`[data-testid="reject-reason"][data-reason="${reason}"]`).click();
    await loaded(reason, '0');
    const byReason = await readApiRejects(base, run, reason, '0', REJECTS_PAGE);
    expect((await readPageRejects(page)).rows).toEqual(byReason.items);
    expect(byReason.items.every((item) => item.reason === reason)).toBe(true);
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.locator('#rejects').screenshot({ path: path.resolve('test-results/rejects.png') });
  });

  it('updates by itself when a new import commits', async () => {
    const before = await apiVersion();
    const outcomes = await new Importer(service.database.pool, service.database.url, {
      batchRows: 1000,
      settleMs: 0,
    }).importFiles([laterFile]);
    expect(outcomes.map((o) => o.status)).toEqual(['done']);
    let after = before;
    for (let i = 0; i < 50 && after === before; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await apiVersion(); // the service's version watcher got the NOTIFY
    }
    expect(after).not.toBe(before);
    await shows(after); // no reload: the page polls /health and sees the new dataVersion
    const updated = await readPage(page);
    expectSame(updated, await readApi(base, ''));
    expect(updated.monthly.map(([month]) => month)).toContain('2024-05');
    expect(updated.ledger[0]?.fileName).toBe(path.basename(laterFile));
  });

  it('has no console errors or CSP violations, fits a phone, and is photographed', async () => {
    await page.locator('#rejects-close').click();
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    // The README's copy changes only on request (its timestamps differ on every run).
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await copyFile(SCREENSHOT, DOCS_SCREENSHOT);

    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(100); // charts resize on the next frame
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({
      path: path.resolve('test-results/dashboard-phone.png'),
      fullPage: true,
    });
    expect(problems).toEqual([]);
  });
});
