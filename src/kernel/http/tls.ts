import fs from 'node:fs';
import tls from 'node:tls';
import type { Logger } from '../telemetry/logger.js';

/**
 * HTTPS as the runbook sets it for the API: TLS 1.3 only, with exactly its two cipher suites.
 * The certificate and key are read from files and re-read when they change (a renewed certificate,
 * e.g. cert-manager rewriting a mounted Secret), so new connections get the new chain without a
 * restart; connections already open keep theirs.
 */
export const TLS_CIPHERSUITES = ['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export class TlsConfigError extends Error {}

/** The server's TLS options from the files; throws TlsConfigError naming the file when one cannot be read or the pair does not match. */
export function readTlsOptions(files: TlsFiles): tls.SecureContextOptions & { minVersion: 'TLSv1.3'; maxVersion: 'TLSv1.3'; ciphers: string } {
  const read = (file: string, what: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new TlsConfigError(`${what} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const options = {
    cert: read(files.certFile, 'TLS_CERT_FILE'),
    key: read(files.keyFile, 'TLS_KEY_FILE'),
    minVersion: 'TLSv1.3' as const,
    maxVersion: 'TLSv1.3' as const,
    ciphers: TLS_CIPHERSUITES.join(':'),
  };
  try {
    // Parses both and checks that the key belongs to the certificate.
    tls.createSecureContext(options);
  } catch (err) {
    throw new TlsConfigError(`TLS_CERT_FILE ${files.certFile} and TLS_KEY_FILE ${files.keyFile} are not a usable pair: ${(err as Error).message}`);
  }
  return options;
}

/**
 * Re-reads the files every `intervalMs` when their modification time or size changed, and serves
 * the new pair to new connections. A pair that fails to load is logged and the old one kept.
 */
export function watchTlsFiles(server: { setSecureContext(options: tls.SecureContextOptions): void }, files: TlsFiles, intervalMs: number, logger: Logger, onReload?: (ok: boolean) => void): () => void {
  const stamp = () => [files.certFile, files.keyFile].map((f) => {
    try {
      const st = fs.statSync(f);
      return `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return 'missing';
    }
  }).join('|');
  let last = stamp();
  const timer = setInterval(() => {
    const now = stamp();
    if (now === last) return;
    last = now;
    try {
      server.setSecureContext(readTlsOptions(files));
      logger.info({ certFile: files.certFile }, 'TLS certificate reloaded');
      onReload?.(true);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'TLS certificate reload failed: still serving the previous one');
      onReload?.(false);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
