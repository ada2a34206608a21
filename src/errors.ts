/** The one application error: a stable code, an HTTP status and a message safe to show. */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (message: string): AppError => new AppError('not_found', 404, message);
export const badRequest = (message: string): AppError => new AppError('bad_request', 400, message);
