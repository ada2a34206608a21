import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { readLedgerTotals, type LedgerTotals } from './metrics.repository.js';

export interface MetricsDeps {
  pool: pg.Pool;
  dataVersion: () => number;
}

/**
 * The service's Prometheus metrics. Request latency is one histogram by route and status (its
 * `_count` is the request count); row totals are read from the ledger at scrape time, so they
 * cover imports by every process on the database; the event-loop lag is among the defaults.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly requestSeconds = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status; _count is the number of requests',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
    registers: [this.registry],
  });
  private readonly importSeconds = new Histogram({
    name: 'import_duration_seconds',
    help: 'Duration of import runs of this process (a run takes every queued file)',
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers: [this.registry],
  });

  constructor(deps: MetricsDeps) {
    collectDefaultMetrics({ register: this.registry });
    this.ledgerGauges(deps.pool);
    new Gauge({
      name: 'data_version',
      help: 'Data version of the answers this process serves',
      registers: [this.registry],
      collect() {
        this.set(deps.dataVersion());
      },
    });
    new Gauge({
      name: 'db_pool_connections',
      help: 'Database pool connections by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        this.set({ state: 'total' }, deps.pool.totalCount);
        this.set({ state: 'idle' }, deps.pool.idleCount);
        this.set({ state: 'waiting' }, deps.pool.waitingCount);
      },
    });
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requestSeconds.observe({ method, route, status }, seconds);
  }

  observeImport(seconds: number): void {
    this.importSeconds.observe(seconds);
  }

  private ledgerGauges(pool: pg.Pool): void {
    // One ledger read per scrape feeds both gauges: the first collect() reads, the second reuses.
    // With the database unreachable the gauges are left out rather than failing the whole scrape.
    let pending: Promise<LedgerTotals | null> | null = null;
    const totals = (): Promise<LedgerTotals | null> => {
      pending ??= readLedgerTotals(pool)
        .catch(() => null)
        .finally(() => setImmediate(() => (pending = null)));
      return pending;
    };
    new Gauge({
      name: 'import_rows',
      help: 'Rows in the import ledger by outcome (inserted, duplicate, rejected)',
      labelNames: ['outcome'] as const,
      registers: [this.registry],
      async collect() {
        const t = await totals();
        if (!t) return;
        this.set({ outcome: 'inserted' }, t.inserted);
        this.set({ outcome: 'duplicate' }, t.duplicate);
        this.set({ outcome: 'rejected' }, t.rejected);
      },
    });
    new Gauge({
      name: 'import_rejected_rows',
      help: 'Rejected rows in the import ledger by reason',
      labelNames: ['reason'] as const,
      registers: [this.registry],
      async collect() {
        const t = await totals();
        for (const [reason, rows] of Object.entries(t?.rejectedByReason ?? {}))
          this.set({ reason }, rows);
      },
    });
  }
}

/** GET /metrics: never rate-limited, so a scraper is never turned away. */
export async function metricsRoutes(
  app: FastifyInstance,
  { metrics }: { metrics: ServiceMetrics },
): Promise<void> {
  app.get(
    '/metrics',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format)',
        produces: ['text/plain'],
        response: { 200: { type: 'string', description: 'Prometheus text format 0.0.4' } },
      },
    },
    async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
}
