import { Worker, type ResourceLimits } from 'node:worker_threads';

/**
 * Starts a worker thread on a module beside this one (`name` without extension): the compiled
 * `.js` in production; under the test runner, where this module is TypeScript source, the `.ts`
 * loaded through tsx.
 */
export function startThread(name: string, resourceLimits: ResourceLimits): Worker {
  const source = import.meta.url.endsWith('.ts');
  const entry = new URL(`./${name}.${source ? 'ts' : 'js'}`, import.meta.url);
  if (!source) return new Worker(entry, { resourceLimits });
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, resourceLimits });
}
