/**
 * Helpers of the dashboard browser test: launching Debian's Chromium, reading the figures the page
 * shows, and the same figures from the API, both as the exact text of each number.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The machine has no internet: without these flags Chromium waits on the network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 15_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * JSON with every number kept as the text the API wrote ("98765432.10", "5.0"): JSON.parse alone
 * would give doubles and lose trailing zeros. Strings are matched first, so their digits stay.
 */
export function parseExact(text: string): unknown {
  return JSON.parse(
    text.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (t) =>
      t.startsWith('"') ? t : `"${t}"`,
    ),
  );
}

type Pair = [key: string, value: string];
type Row = Record<string, string>;

/** The figures, each number as exact text, in the order shown. */
export interface Figures {
  monthly: Pair[];
  adoption: Pair[];
  kyc: Pair[];
  failures: Pair[];
  top: { merchant_id: string; total_volume: string } | null;
  leaders: Row[];
  ledger: Row[];
}

export interface PageFigures extends Figures {
  /** Each displayed text, which must be its value with thousands separators (and % for rates). */
  texts: Array<{ testid: string; value: string; text: string }>;
  charts: Record<'mam' | 'adoption' | 'failure' | 'kyc', { labels: string[]; data: unknown[] }>;
}

export const LEDGER_FIELDS = [
  'id',
  'fileName',
  'status',
  'rowsRead',
  'rowsInserted',
  'rowsDuplicate',
  'rowsRejected',
] as const;

/** Runs in the page (plain JS: the test's TypeScript has no DOM types). */
const READ_PAGE = `(() => {
  const all = (selector) => Array.from(document.querySelectorAll(selector));
  const texts = [];
  const cells = (testid) =>
    all('[data-testid="' + testid + '"]').map((e) => {
      texts.push({ testid, value: e.dataset.value, text: e.textContent.trim() });
      return [e.dataset.key, e.dataset.value];
    });
  const rows = (testid) =>
    all('[data-testid="' + testid + '"]').map((tr) => {
      const row = {};
      for (const td of tr.querySelectorAll('[data-field]')) {
        row[td.dataset.field] = td.dataset.value;
        if (td.classList.contains('num')) texts.push({ testid: testid + '.' + td.dataset.field, value: td.dataset.value, text: td.textContent.trim() });
      }
      return row;
    });
  const chart = (id) => {
    const c = Chart.getChart(id);
    return { labels: c.data.labels.slice(), data: c.data.datasets[0].data.slice() };
  };
  const id = document.querySelector('[data-testid="top-merchant-id"]').textContent.trim();
  const volume = document.querySelector('[data-testid="top-merchant-volume"]');
  if (volume.dataset.value) texts.push({ testid: 'top-merchant-volume', value: volume.dataset.value, text: volume.textContent.trim() });
  return {
    monthly: cells('mam-value'),
    adoption: cells('adoption-value'),
    kyc: cells('kyc-value'),
    failures: cells('failure-value'),
    top: volume.dataset.value ? { merchant_id: id, total_volume: volume.dataset.value } : null,
    leaders: rows('top-merchants-row'),
    ledger: rows('ledger-row'),
    charts: { mam: chart('mam-chart'), adoption: chart('adoption-chart'), failure: chart('failure-chart'), kyc: chart('kyc-chart') },
    texts,
  };
})()`;

export function readPage(page: Page): Promise<PageFigures> {
  return page.evaluate<PageFigures>(READ_PAGE);
}

async function get(base: string, path: string): Promise<{ status: number; json: unknown }> {
  const response = await fetch(base + path);
  return { status: response.status, json: parseExact(await response.text()) };
}

/** The same figures from the API, for a range query like 'from=2024-02&to=2024-03' or ''. */
export async function readApi(base: string, query: string): Promise<Figures> {
  const q = query ? `?${query}` : '';
  const [monthly, adoption, kyc, failures, top, leaders, ledger] = await Promise.all([
    get(base, `/analytics/monthly-active-merchants${q}`),
    get(base, `/analytics/product-adoption${q}`),
    get(base, `/analytics/kyc-funnel${q}`),
    get(base, `/analytics/failure-rates${q}`),
    get(base, `/analytics/top-merchant${q}`),
    get(base, `/analytics/top-merchants?limit=10${query ? `&${query}` : ''}`),
    get(base, '/imports?limit=50'),
  ]);
  const kycBody = kyc.json as Record<string, string>;
  return {
    monthly: Object.entries(monthly.json as Record<string, string>),
    adoption: Object.entries(adoption.json as Record<string, string>),
    kyc: ['documents_submitted', 'verifications_completed', 'tier_upgrades'].map((k) => [
      k,
      kycBody[k] as string,
    ]),
    failures: (failures.json as Array<{ product: string; failure_rate: string }>).map((f) => [
      f.product,
      f.failure_rate,
    ]),
    top: top.status === 200 ? (top.json as { merchant_id: string; total_volume: string }) : null,
    leaders: (leaders.json as Row[]).map((r) => ({
      rank: r.rank as string,
      merchant_id: r.merchant_id as string,
      total_volume: r.total_volume as string,
    })),
    ledger: (ledger.json as { items: Row[] }).items.map((run) =>
      Object.fromEntries(LEDGER_FIELDS.map((f) => [f, run[f] as string])),
    ),
  };
}

export interface RejectsPage {
  reasonCounts: Record<string, string>;
  items: Array<{ line: string; reason: string; raw: string }>;
  nextAfter: string | null;
}

export async function readApiRejects(
  base: string,
  run: string,
  reason: string,
  after: string,
  limit: number,
): Promise<RejectsPage> {
  const params = new URLSearchParams({ limit: String(limit), after });
  if (reason) params.set('reason', reason);
  return (await get(base, `/imports/${run}/rejects?${params}`)).json as RejectsPage;
}

const READ_REJECTS = `(() => ({
  reasons: Array.from(document.querySelectorAll('[data-testid="reject-reason"]')).map((b) => [b.dataset.reason, b.dataset.count]),
  rows: Array.from(document.querySelectorAll('[data-testid="reject-row"]')).map((tr) => ({
    line: tr.dataset.line,
    reason: tr.dataset.reason,
    raw: tr.querySelector('code').textContent,
  })),
}))()`;

export function readPageRejects(
  page: Page,
): Promise<{ reasons: Pair[]; rows: RejectsPage['items'] }> {
  return page.evaluate(READ_REJECTS);
}

/**
 * Polls a JS expression in the page until it is true. (page.waitForFunction with a string evals it
 * inside the page, which the dashboard's CSP rightly refuses: no 'unsafe-eval'.)
 */
export async function waitInPage(page: Page, expression: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await page.evaluate(expression)) !== true) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
