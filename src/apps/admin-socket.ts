import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import type { Logger } from '../kernel/telemetry/logger.js';
import { AppError } from '../kernel/errors.js';
import { MigrationError } from '../kernel/db/migrate.js';
import { ConfigError } from '../kernel/config/index.js';
import { parseOperatorRequest, runOperatorCommand, type CommandIo, type DataAccess, type OperatorRequest } from './operator-commands.js';
import { StartupError, type Platform } from './platform.js';
import { ensurePrivateDir } from '../kernel/private-fs.js';

/**
 * The running server's door for operator commands (ADR 0021): a Unix socket in the data folder,
 * mode 0600, so only the user who owns the data (the one who could open it anyway) may use it.
 * The protocol is newline-delimited JSON: the CLI sends one request {command, args}; the server
 * answers with {out}/{err} lines as the command prints and ends with {exit} or {error}.
 */
export const ADMIN_SOCKET = 'admin.sock';

export function adminSocketPath(dataDir: string): string {
  return path.join(dataDir, ADMIN_SOCKET);
}

/** Errors whose message is meant for the operator; anything else is reported without internals. */
function operatorMessage(err: unknown): string | undefined {
  if (err instanceof AppError || err instanceof StartupError || err instanceof MigrationError || err instanceof ConfigError) return err.message;
  return undefined;
}

type Reply = { out: string } | { err: string } | { exit: number } | { error: string };

export interface AdminSocket {
  readonly path: string;
  close(): Promise<void>;
}

export async function startAdminSocket(platform: Platform, dataDir: string, logger: Logger): Promise<AdminSocket | undefined> {
  const file = adminSocketPath(dataDir);
  // On PostgreSQL with V01T_MASTER_KEY set nothing else creates the data folder (the distributed
  // shape): binding in a missing folder failed the start after the server was already listening.
  ensurePrivateDir(dataDir);
  // sun_path holds 108 bytes on Linux (104 on macOS); a longer path cannot be bound.
  if (Buffer.byteLength(file) > 100) {
    logger.warn({ path: file }, 'admin socket path too long: operator commands (v01t user create, gdpr ...) need this server stopped');
    return undefined;
  }
  const access: DataAccess = {
    database: (fn) => fn(platform.database, platform.migrationSets),
    platform: (fn) => fn(platform),
  };
  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => {});
    void serve(socket);
  });

  async function serve(socket: net.Socket): Promise<void> {
    const send = (reply: Reply): Promise<void> =>
      new Promise((resolve) => {
        if (socket.destroyed) return resolve();
        if (socket.write(`${JSON.stringify(reply)}\n`)) resolve();
        else socket.once('drain', resolve);
      });
    const lines = readline.createInterface({ input: socket, crlfDelay: Infinity });
    let request: OperatorRequest | undefined;
    for await (const line of lines) {
      try {
        request = parseOperatorRequest(JSON.parse(line));
      } catch (err) {
        await send({ error: operatorMessage(err) ?? 'not a JSON operator request' });
        socket.end();
        return;
      }
      break;
    }
    if (!request) return void socket.end();
    // Never log the arguments: user create carries a password.
    logger.info({ command: request.command }, 'operator command over the admin socket');
    let exitCode = 0;
    const io: CommandIo = {
      out: (text) => send({ out: text }),
      err: (text) => void send({ err: text }),
      setExitCode: (code) => {
        exitCode = code;
      },
    };
    try {
      await runOperatorCommand(request, io, access);
      await send({ exit: exitCode });
    } catch (err) {
      const message = operatorMessage(err);
      if (!message) logger.error({ err, command: request.command }, 'operator command failed');
      await send({ error: message ?? `unexpected error (see the server log): ${(err as Error).message}` });
    }
    socket.end();
  }

  if (!(await bind(server, file))) {
    // Two distributed-shape processes sharing one data folder on a host: the first keeps the door.
    logger.warn({ path: file }, 'another v01t process answers on the admin socket of this data folder: operator commands go to it');
    return undefined;
  }
  logger.info({ path: file }, 'admin socket listening');
  return {
    path: file,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.destroy();
    },
  };
}

/** Binds the socket; false when another live process answers on it. */
async function bind(server: net.Server, file: string): Promise<boolean> {
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The socket file gets the umask's mode at bind: create it private, not just chmod it after.
      const previous = process.umask(0o177);
      try {
        server.listen(file, () => {
          server.removeListener('error', reject);
          resolve();
        });
      } finally {
        process.umask(previous);
      }
    });
  try {
    await listen();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    // Left by a process that died when nobody answers on it: replace it.
    if (await answers(file)) return false;
    fs.rmSync(file, { force: true });
    await listen();
  }
  fs.chmodSync(file, 0o600);
  return true;
}

function answers(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

export class AdminSocketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminSocketError';
  }
}

/**
 * Sends one operator command to the server running on this data folder and relays its output.
 * Resolves false when no server listens there (the caller then opens the data folder itself).
 */
export function sendToServer(dataDir: string, request: OperatorRequest, io: CommandIo): Promise<boolean> {
  const file = adminSocketPath(dataDir);
  return new Promise((resolve, reject) => {
    if (!fs.existsSync(file)) return resolve(false);
    const socket = net.connect(file);
    let connected = false;
    let finished = false;
    socket.once('connect', () => {
      connected = true;
      socket.write(`${JSON.stringify(request)}\n`);
      const lines = readline.createInterface({ input: socket, crlfDelay: Infinity });
      void (async () => {
        for await (const line of lines) {
          const reply = JSON.parse(line) as Reply;
          if ('out' in reply) await io.out(reply.out);
          else if ('err' in reply) io.err(reply.err);
          else if ('exit' in reply) {
            finished = true;
            io.setExitCode(reply.exit);
            socket.end();
            return resolve(true);
          } else if ('error' in reply) {
            finished = true;
            socket.end();
            return reject(new AdminSocketError(reply.error));
          }
        }
      })().catch(reject);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected && (err.code === 'ECONNREFUSED' || err.code === 'ENOENT')) return resolve(false);
      if (!connected && err.code === 'EACCES') return reject(new AdminSocketError(`the admin socket ${file} belongs to another user: run v01t as the user who owns the data folder`));
      reject(new AdminSocketError(`admin socket ${file}: ${err.message}`));
    });
    socket.once('close', () => {
      if (connected && !finished) reject(new AdminSocketError('the server closed the admin connection before the command finished (see its log)'));
    });
  });
}
