import fs from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

/**
 * TLS to PostgreSQL as the runbook configures it (`ssl_mode: require`, a client certificate):
 * DATABASE_SSL_MODE with a CA, client certificate and key, applied to every pool (the platform's,
 * pg-boss's) and to `v01t migrate`. Modes as libpq names them:
 * - disable: plain TCP (refused by a server whose pg_hba.conf has only hostssl lines);
 * - require: encrypted, the server's certificate not checked (libpq's meaning);
 * - verify-full: encrypted, the server's certificate must chain to DATABASE_SSL_CA and name the host.
 * Set, it wins over any sslmode/sslcert/sslkey/sslrootcert in DATABASE_URL (removed from it).
 */
export type DatabaseSslMode = 'disable' | 'require' | 'verify-full';
export interface DatabaseSslSettings {
  mode: DatabaseSslMode;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export class DatabaseSslError extends Error {}

const URL_SSL_PARAMS = ['sslmode', 'ssl', 'sslcert', 'sslkey', 'sslrootcert', 'sslpassword', 'uselibpqcompat'];

function read(file: string, variable: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new DatabaseSslError(`${variable} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The connection string and node-postgres `ssl` option for these settings (unset: the URL as given). */
export function postgresConnection(url: string, settings?: DatabaseSslSettings): { connectionString: string; ssl?: false | ConnectionOptions } {
  if (!settings) return { connectionString: url };
  const u = new URL(url);
  for (const p of URL_SSL_PARAMS) u.searchParams.delete(p);
  const connectionString = u.toString();
  if (settings.mode === 'disable') return { connectionString, ssl: false };
  const ssl: ConnectionOptions = { rejectUnauthorized: settings.mode === 'verify-full' };
  if (settings.caFile) ssl.ca = read(settings.caFile, 'DATABASE_SSL_CA');
  if (settings.certFile) ssl.cert = read(settings.certFile, 'DATABASE_SSL_CERT');
  if (settings.keyFile) ssl.key = read(settings.keyFile, 'DATABASE_SSL_KEY');
  if (settings.mode === 'verify-full') {
    if (!ssl.ca) throw new DatabaseSslError('DATABASE_SSL_MODE=verify-full needs DATABASE_SSL_CA (the CA that signed the server certificate)');
    // Node checks the certificate names the host it connects to (an IP address against its IP SANs).
    ssl.servername = /^[\d.]+$|:/.test(u.hostname) ? undefined : u.hostname;
  }
  return { connectionString, ssl };
}
