import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, problemType, type ErrorCode, type ProblemBody } from '../errors.js';
import { sendProblem, toAppError } from './problem.js';

/**
 * Errors Fastify raises before a route is found (a malformed percent-encoding, a path parameter
 * over maxParamLength): answered as problem+json like every other error, not Fastify's own JSON.
 */
export function frameworkErrorHandler(err: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply): void {
  let appError: AppError;
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') appError = new AppError('uri_too_long', 'A path segment of the URL exceeds the length limit');
  else if (err.code === 'FST_ERR_BAD_URL') appError = new AppError('bad_request', 'The URL is not validly percent-encoded');
  else appError = toAppError(err).appError;
  void sendProblem(reply, appError, request);
}

const CLIENT_ERRORS: Record<string, { code: ErrorCode; status: number; detail: string }> = {
  HPE_HEADER_OVERFLOW: { code: 'headers_too_large', status: 431, detail: 'The request line and headers exceed the size limit' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'request_timeout', status: 408, detail: 'The request was not received in time' },
};

/**
 * Requests Node's HTTP parser refuses never reach Fastify (oversized headers or URL, control
 * characters in a header, a timeout): the answer is written on the socket, as problem+json.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = (err.code && CLIENT_ERRORS[err.code]) || { code: 'bad_request' as const, status: 400, detail: 'The HTTP request is malformed' };
  const body: ProblemBody = {
    type: problemType(known.code),
    title: new AppError(known.code).title,
    status: known.status,
    detail: known.detail,
    code: known.code,
    requestId: randomUUID(),
  };
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${known.status} ${http.STATUS_CODES[known.status]}\r\n` +
        `Content-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy(err);
}
