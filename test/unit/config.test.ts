import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

function errorOf(env: NodeJS.ProcessEnv): unknown {
  try {
    loadConfig(env);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('loadConfig: defaults', () => {
  it('when the environment is empty, then every setting has its documented default', () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      host: '0.0.0.0',
      dataDir: './data',
      databaseUrl: undefined,
      logLevel: 'info',
      corsOrigins: [],
      adminToken: undefined,
      importBatchRows: 1_000_000,
      importBulkLoad: 'auto',
      importRegistryGenerationIds: 8_000_000,
      uploadDir: path.join('data', 'uploads'),
      uploadMaxBytes: 10 * 1024 ** 3,
      uploadRetentionHours: 24,
      requestTimeoutSeconds: 300,
      rateLimitPerMinute: 6000,
      trustProxy: false,
      watchDataDir: true,
      fileSettleMs: 10_000,
      shutdownTimeoutMs: 10_000,
      archiveDir: './archive',
    });
  });

  it('when variables are set to empty strings, then the defaults apply', () => {
    const config = loadConfig({
      PORT: '',
      HOST: '',
      DATA_DIR: '  ',
      DATABASE_URL: '',
      CORS_ORIGINS: '',
      ADMIN_TOKEN: '',
      IMPORT_BATCH_ROWS: '',
    });
    expect(config.port).toBe(8080);
    expect(config.host).toBe('0.0.0.0');
    expect(config.dataDir).toBe('./data');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.corsOrigins).toEqual([]);
    expect(config.adminToken).toBeUndefined();
    expect(config.importBatchRows).toBe(1_000_000);
    expect(config.uploadDir).toBe(path.join('data', 'uploads'));
    expect(config.uploadMaxBytes).toBe(10 * 1024 ** 3);
    expect(config.rateLimitPerMinute).toBe(6000);
    expect(config.watchDataDir).toBe(true);
  });

  it('when the config is loaded, then it is frozen', () => {
    const config = loadConfig({ CORS_ORIGINS: 'https://a.example' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.corsOrigins)).toBe(true);
  });
});

describe('loadConfig: valid values', () => {
  it('when every variable is set validly, then the values are used (trimmed, log level lower-cased)', () => {
    const config = loadConfig({
      PORT: ' 3000 ',
      HOST: ' 127.0.0.1 ',
      DATA_DIR: ' /srv/data ',
      DATABASE_URL: ' postgresql://user:pw@db:5432/activities ',
      LOG_LEVEL: ' DEBUG ',
      CORS_ORIGINS: 'https://a.example, http://localhost:5173 ,,',
      ADMIN_TOKEN: ' 0123456789abcdef ',
      IMPORT_BATCH_ROWS: '1000',
      IMPORT_BULK_LOAD: ' Always ',
      IMPORT_REGISTRY_GENERATION_IDS: '5',
      UPLOAD_DIR: ' /srv/uploads ',
      UPLOAD_MAX_BYTES: '1048576',
      UPLOAD_RETENTION_HOURS: '0',
      REQUEST_TIMEOUT_SECONDS: '600',
      RATE_LIMIT_PER_MINUTE: '0',
      TRUST_PROXY: ' 10.0.0.0/8, 192.168.1.7 ',
      WATCH_DATA_DIR: 'false',
      FILE_SETTLE_MS: '2500',
      SHUTDOWN_TIMEOUT_MS: '30000',
      ARCHIVE_DIR: ' /var/archive ',
    });
    expect(config).toEqual({
      port: 3000,
      host: '127.0.0.1',
      dataDir: '/srv/data',
      databaseUrl: 'postgresql://user:pw@db:5432/activities',
      logLevel: 'debug',
      corsOrigins: ['https://a.example', 'http://localhost:5173'],
      adminToken: '0123456789abcdef',
      importBatchRows: 1000,
      importBulkLoad: 'always',
      importRegistryGenerationIds: 5,
      uploadDir: '/srv/uploads',
      uploadMaxBytes: 1_048_576,
      uploadRetentionHours: 0,
      requestTimeoutSeconds: 600,
      rateLimitPerMinute: 0,
      trustProxy: ['10.0.0.0/8', '192.168.1.7'],
      watchDataDir: false,
      fileSettleMs: 2500,
      shutdownTimeoutMs: 30_000,
      archiveDir: '/var/archive',
    });
  });

  it.each([['0'], ['1'], ['8080'], ['65535']])('when PORT is %s, then it is accepted', (port) => {
    expect(loadConfig({ PORT: port }).port).toBe(Number(port));
  });

  it.each([['fatal'], ['error'], ['warn'], ['info'], ['debug'], ['trace'], ['silent']])(
    'when LOG_LEVEL is %s, then it is accepted',
    (level) => {
      expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
    },
  );

  it('when DATABASE_URL uses postgres://, then it is accepted', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://localhost/x' }).databaseUrl).toBe(
      'postgres://localhost/x',
    );
  });

  it('when CORS_ORIGINS is *, then it is accepted', () => {
    expect(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
  });

  it.each([
    ['', false],
    ['false', false],
    ['0', false],
    ['TRUE', true],
    ['1', 1],
    ['2', 2],
    ['127.0.0.1', ['127.0.0.1']],
    ['loopback,10.0.0.0/8', ['loopback', '10.0.0.0/8']],
    ['::1, fd00::/8', ['::1', 'fd00::/8']],
  ])('when TRUST_PROXY is %j, then it is read as %j', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it('when IMPORT_BATCH_ROWS is at its limits, then it is accepted', () => {
    expect(loadConfig({ IMPORT_BATCH_ROWS: '1' }).importBatchRows).toBe(1);
    expect(loadConfig({ IMPORT_BATCH_ROWS: '100000000' }).importBatchRows).toBe(100_000_000);
  });
});

describe('loadConfig: invalid values', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['PORT', '1e3'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_LEVEL', 'verbose'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'localhost:5432/db'],
    ['DATABASE_URL', 'postgres://u@h1:5432,h2:5432/db?target_session_attrs=prefer-standby'],
    ['DATABASE_URL', 'postgres://u@h1:5432,h2:5432/db?target_session_attrs=writable'],
    ['DATABASE_URL', 'postgres://u@h1:5432,,h2/db'],
    ['DATABASE_URL', 'postgres://u@h1:5432,h2:port/db'],
    ['DATABASE_URL', 'postgres://u:p@db:port/x'],
    ['DATABASE_READ_URL', 'postgres://u@standby:5432/db'], // without DATABASE_URL
    ['CORS_ORIGINS', 'not a url'],
    ['CORS_ORIGINS', 'https://ok.example,ftp://bad.example'],
    ['CORS_ORIGINS', 'https://a.example/path'],
    ['ADMIN_TOKEN', 'short'],
    ['IMPORT_BATCH_ROWS', '0'],
    ['IMPORT_BATCH_ROWS', '100000001'],
    ['IMPORT_BATCH_ROWS', 'many'],
    ['UPLOAD_MAX_BYTES', '0'],
    ['UPLOAD_RETENTION_HOURS', '-1'],
    ['UPLOAD_RETENTION_HOURS', '1.5'],
    ['UPLOAD_RETENTION_HOURS', '87601'],
    ['REQUEST_TIMEOUT_SECONDS', 'soon'],
    ['REQUEST_TIMEOUT_SECONDS', '86401'],
    ['RATE_LIMIT_PER_MINUTE', '-5'],
    ['WATCH_DATA_DIR', 'sometimes'],
    ['IMPORT_BULK_LOAD', 'yes'],
    ['IMPORT_REGISTRY_GENERATION_IDS', '0'],
    ['FILE_SETTLE_MS', '-1'],
    ['SHUTDOWN_TIMEOUT_MS', '10s'],
    ['SHUTDOWN_TIMEOUT_MS', '50'],
    ['TRUST_PROXY', 'yes'],
    ['TRUST_PROXY', '1.5'],
    ['TRUST_PROXY', '-1'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', '10.0.0.1,,10.0.0.2'],
    ['TRUST_PROXY', 'proxy.example'],
  ])('when %s is %j, then a ConfigError names the variable', (name, value) => {
    const error = errorOf({ [name]: value });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(name);
  });

  it('when UPLOAD_RETENTION_HOURS is bad, then the error is one line naming the variable and its range', () => {
    const error = errorOf({ UPLOAD_RETENTION_HOURS: 'a day' });
    expect((error as Error).message).toBe(
      'UPLOAD_RETENTION_HOURS must be an integer from 0 to 87600, got "a day"',
    );
  });

  it('when TRUST_PROXY is bad, then the error is one line naming the variable and what it takes', () => {
    expect((errorOf({ TRUST_PROXY: '10.0.0.0/40' }) as Error).message).toBe(
      'TRUST_PROXY must be true, false, a hop count or a comma-separated list of addresses/CIDRs, got "10.0.0.0/40"',
    );
  });

  it('when the error concerns an admin token, then the token itself is not echoed', () => {
    const error = errorOf({ ADMIN_TOKEN: 's3cr' });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain('s3cr');
  });

  it.each([
    'mysql://user:hunter2@db/x',
    'postgres://user:hunter2@h1,h2:x/x',
    'postgres://user:hunter2@h1,h2/x?target_session_attrs=standby',
    'postgres://user:hunter2@db:x/y',
  ])(
    'when the error concerns DATABASE_URL %j, then the URL (which may hold a password) is not echoed',
    (url) => {
      const error = errorOf({ DATABASE_URL: url });
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toContain('hunter2');
    },
  );

  it('when DATABASE_READ_URL is set with DATABASE_URL, then it is kept, and checked like it', () => {
    const primary = 'postgres://u@primary:5432/db';
    expect(
      loadConfig({ DATABASE_URL: primary, DATABASE_READ_URL: 'postgres://u@standby:5432/db' })
        .databaseReadUrl,
    ).toBe('postgres://u@standby:5432/db');
    expect(loadConfig({ DATABASE_URL: primary }).databaseReadUrl).toBeUndefined();
    const error = errorOf({
      DATABASE_URL: primary,
      DATABASE_READ_URL: 'postgres://u:pw@s1,s2/db?target_session_attrs=any-standby',
    });
    expect((error as Error).message).toBe(
      'DATABASE_READ_URL has target_session_attrs=any-standby; use one of any, read-write, read-only, primary, standby, prefer-standby',
    );
  });

  it('when DATABASE_URL names several hosts as libpq does, then it is accepted as given', () => {
    const url = 'postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write';
    expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    const standbys = 'postgres://u@s1,s2/db?target_session_attrs=prefer-standby';
    expect(
      loadConfig({ DATABASE_URL: 'postgres://u@h1,h2/db', DATABASE_READ_URL: standbys })
        .databaseReadUrl,
    ).toBe(standbys);
    expect((errorOf({ DATABASE_URL: url.replace('read-write', 'standby') }) as Error).message).toBe(
      'DATABASE_URL must have target_session_attrs=read-write or primary: the service writes to it',
    );
  });

  it('when DATABASE_URL has a comma in its password, then it is still one host', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:a,b@db:5432/x' }).databaseUrl).toBe(
      'postgres://u:a,b@db:5432/x',
    );
  });
});
