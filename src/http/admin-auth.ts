import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * An onRequest guard for endpoints that write: `Authorization: Bearer <ADMIN_TOKEN>`, compared in
 * constant time (both sides hashed first, so not even the length leaks). With no ADMIN_TOKEN the
 * endpoints are switched off.
 */
export function requireAdmin(adminToken: string | undefined) {
  const expected = adminToken === undefined ? null : digest(adminToken);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!expected)
      throw new AppError('writes_disabled', 403, 'write endpoints are off: ADMIN_TOKEN is not set');
    const given = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      reply.header('www-authenticate', 'Bearer');
      throw new AppError(
        'unauthorized',
        401,
        'a valid "Authorization: Bearer <token>" is required',
      );
    }
  };
}
