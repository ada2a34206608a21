import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestLatency } from '../../src/modules/metrics/request-latency.js';

const NAME = 'http_request_duration_seconds';
const HELP = 'HTTP request latency by route and status; _count is the number of requests';
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5];

/** The same observations through prom-client's own Histogram: the text our class must match. */
async function promClientText(
  observations: Array<[string, string, number, number]>,
): Promise<string> {
  const registry = new Registry();
  const histogram = new Histogram({
    name: NAME,
    help: HELP,
    labelNames: ['method', 'route', 'status'] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  for (const [method, route, status, seconds] of observations)
    histogram.labels(method, route, String(status)).observe(seconds);
  return (await registry.metrics()).trimEnd();
}

describe('RequestLatency', () => {
  it('writes the text prom-client writes for the same observations', async () => {
    const observations: Array<[string, string, number, number]> = [
      ['GET', '/analytics/top-merchant', 200, 0.00004],
      ['GET', '/analytics/top-merchant', 200, 0.0005], // on a bound: counted in that bucket
      ['GET', '/analytics/top-merchant', 200, 0.0031],
      ['GET', '/analytics/top-merchant', 200, 7], // above every bound: only +Inf
      ['GET', 'unmatched', 404, 0.002],
      ['POST', '/imports', 202, 0.3],
      ['GET', '/odd "route"\\with\nescapes', 200, 0.01],
    ];
    const latency = new RequestLatency(NAME, HELP, BUCKETS);
    const lane = latency.observer('GET', '/analytics/top-merchant', 200);
    for (const [method, route, status, seconds] of observations) {
      if (method === 'GET' && route === '/analytics/top-merchant') lane(seconds);
      else latency.observe(method, route, status, seconds);
    }
    expect(latency.exposition()).toBe(await promClientText(observations));
  });

  it('counts every observation once, cumulatively, and ignores a value that is not finite', () => {
    const latency = new RequestLatency(NAME, HELP, [0.1, 1]);
    const observe = latency.observer('GET', '/x', 200);
    for (const seconds of [0.05, 0.1, 0.5, 2, Number.NaN, Number.POSITIVE_INFINITY])
      observe(seconds);
    const lines = latency.exposition().split('\n');
    expect(lines).toContain(`${NAME}_bucket{le="0.1",method="GET",route="/x",status="200"} 2`);
    expect(lines).toContain(`${NAME}_bucket{le="1",method="GET",route="/x",status="200"} 3`);
    expect(lines).toContain(`${NAME}_bucket{le="+Inf",method="GET",route="/x",status="200"} 4`);
    expect(lines).toContain(`${NAME}_count{method="GET",route="/x",status="200"} 4`);
    expect(lines).toContain(`${NAME}_sum{method="GET",route="/x",status="200"} 2.65`);
  });
});
