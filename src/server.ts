import { ConfigError, loadConfigFromProcess } from './config.js';
import { startService } from './service.js';

let config;
try {
  config = loadConfigFromProcess();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`configuration error: ${error.message}`);
    process.exit(1);
  }
  throw error;
}

// One line, whatever failed (the embedded database's start included), not an uncaught exception.
const service = await startService(config).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`cannot start: ${message.replace(/\s*\n\s*/g, ' ')}`);
  process.exit(1);
});
try {
  await service.app.listen({ port: config.port, host: config.host });
} catch (error) {
  // Typically EADDRINUSE: say so in one line and stop cleanly (the embedded database too).
  console.error(`cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
  await service.close();
  process.exit(1);
}

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    service.app.log.info({ signal }, 'shutting down');
    service
      .close()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        service.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  });
}
