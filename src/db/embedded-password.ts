import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/** The superuser's password in data folders made before passwords were generated. */
export const LEGACY_PASSWORD = 'postgres';
/** In the data folder, owner-only: the generated superuser password. */
export const PASSWORD_FILE = 'superuser.password';
export const SUPERUSER = 'postgres';

export interface Owner {
  uid: number;
  gid: number;
}

/** 192 random bits, URL-safe (it goes into the connection URL as is). */
export const newPassword = (): string => randomBytes(24).toString('base64url');

/** 0600, and owned by the server's OS user when we run as root, like the rest of its folder. */
async function writePrivateFile(file: string, text: string, owner: Owner | null): Promise<void> {
  await writeFile(file, `${text}\n`, { mode: 0o600 });
  await chmod(file, 0o600); // mode applies only when the file is created
  if (owner) await chown(file, owner.uid, owner.gid);
}

export async function readPasswordFile(databaseDir: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(databaseDir, PASSWORD_FILE), 'utf8')).trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Written aside and renamed, so that a crash never leaves a half-written password behind. */
export async function savePasswordFile(
  databaseDir: string,
  password: string,
  owner: Owner | null,
): Promise<void> {
  const file = path.join(databaseDir, PASSWORD_FILE);
  await rm(`${file}.new`, { force: true });
  await writePrivateFile(`${file}.new`, password, owner);
  await rename(`${file}.new`, file);
}

/** initdb reads the password from a file: this one is private to its owner and removed after. */
export async function withInitdbPasswordFile<T>(
  password: string,
  owner: Owner | null,
  use: (file: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'activities-initdb-')); // mode 0700
  try {
    if (owner) await chown(dir, owner.uid, owner.gid); // initdb runs as that user
    const file = path.join(dir, 'password');
    await writePrivateFile(file, password, owner);
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function connect(port: number, password: string): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: SUPERUSER,
    password,
    database: 'postgres',
  });
  client.on('error', () => undefined); // a server stopping under it must not crash the process
  await client.connect();
  return client;
}

const isBadPassword = (error: unknown): boolean =>
  (error as { code?: string } | null)?.code === '28P01';

/**
 * A superuser connection with `password`. A folder made before passwords were generated still has
 * the legacy one: it is replaced by `password` (already saved), and `onReplaced` is called.
 */
export async function superuserClient(
  port: number,
  password: string,
  onReplaced: () => void,
): Promise<pg.Client> {
  try {
    return await connect(port, password);
  } catch (error) {
    if (!isBadPassword(error)) throw error;
  }
  const client = await connect(port, LEGACY_PASSWORD).catch((error: unknown) => {
    if (!isBadPassword(error)) throw error;
    throw new Error(`neither the password in ${PASSWORD_FILE} nor the old default is accepted`);
  });
  const role = client.escapeIdentifier(SUPERUSER);
  try {
    await client.query(`ALTER ROLE ${role} PASSWORD ${client.escapeLiteral(password)}`);
  } catch (error) {
    await client.end();
    throw error;
  }
  onReplaced();
  return client;
}
