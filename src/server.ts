import closeWithGrace from 'close-with-grace';
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

// SIGTERM/SIGINT: stop taking requests, let the import stop at a checkpoint, close the database
// (the embedded one too), exit 0. Past SHUTDOWN_TIMEOUT_MS, exit 1 saying what still hung.
closeWithGrace(
  {
    delay: config.shutdownTimeoutMs,
    logger: { error: (message: unknown) => service.app.log.error(message) },
    onTimeout: (delay) =>
      service.app.log.error(
        { shutdownTimeoutMs: delay, gaveUpOn: service.closingStep },
        `shutdown took over ${delay} ms; exiting without ${service.closingStep ?? 'finishing'}`,
      ),
  },
  async ({ signal, err }) => {
    if (err) service.app.log.error({ err }, 'shutting down after an uncaught error');
    else service.app.log.info({ signal }, 'shutting down');
    await service.close();
  },
);
