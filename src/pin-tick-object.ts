import { createHook } from 'node:async_hooks';

/**
 * Keeps one entry of Node's process.nextTick queue (a TickObject) alive for the life of the
 * process, so that V8 never collects the hidden classes ("maps") of those entries.
 *
 * Why: nextTick builds each entry with an object literal with computed keys, and V8 records the
 * map seen at each of its four property definitions. On Node 20, once every entry has died, a
 * full garbage collection frees those maps; the next entry gets new ones, V8 marks the four
 * definitions megamorphic for good, and from then on every nextTick (about ten a response) goes
 * through the runtime. Measured with bench/http-instructions.sh: the service's main thread took
 * either ~90 k or ~130 k instructions a response depending on when such a collection happened;
 * the 40 k were that runtime path. A live entry keeps the maps, and the definitions monomorphic.
 * test/unit/pin-tick-object.test.ts shows both states.
 *
 * Imported first by server.ts: the earlier, the fewer collections can come before it.
 */
export let pinnedTickObject: object | undefined;

const hook = createHook({
  init(_asyncId, type, _triggerAsyncId, resource: object) {
    if (type === 'TickObject') pinnedTickObject ??= resource;
  },
});
hook.enable();
process.nextTick(() => undefined);
hook.disable();
