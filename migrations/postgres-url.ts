import { accessSync, constants } from 'node:fs';
import { UsageError } from '../core/cli';

/**
 * The PostgreSQL URLs the migration tools take (db:move, storage:move, db:migrate): refused with a
 * UsageError naming the option or variable they came from, never repeating the value (it may
 * hold a password).
 */

/** `value` as a URL, or a UsageError naming `field`: an unencoded # or @ in a password is the usual cause. */
export function parseUrl(field: string, value: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new UsageError(field, 'is not a URL: expected postgres://user:password@host:port/database, any @ : / # ? % in the user or password percent-encoded');
  }
}

/** The URL's user and password decoded, or a UsageError naming `field` and the part that is not percent-encoded; `passwordVariable` is the way around encoding it. */
export function urlCredentials(field: string, url: URL, passwordVariable?: string): { username: string; password: string } {
  const decoded: Record<'user' | 'password', string> = { user: '', password: '' };
  for (const [part, text] of [['user', url.username], ['password', url.password]] as const) {
    try {
      decoded[part] = decodeURIComponent(text);
    } catch {
      throw new UsageError(field, `its ${part} is not percent-encoded: write % as %25 (and @ : / # ? as %40 %3A %2F %23 %3F)${passwordVariable ? `, or leave the password out and set ${passwordVariable}` : ''}`);
    }
  }
  return { username: decoded.user, password: decoded.password };
}

/**
 * A database URL the moves can use, or a UsageError naming `field` (an option or a variable) that
 * never repeats the value: it may hold a password. `passwordVariable` is the way around encoding it.
 */
export function checkPostgresUrl(field: string, value: string, passwordVariable?: string): string {
  const url = parseUrl(field, value);
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new UsageError(field, `must start with postgres:// or postgresql://`);
  }
  if (url.pathname.length <= 1) throw new UsageError(field, `names no database (the /database part of the URL)`);
  // pg_dump gets the password decoded, through the environment: a stray % would end the run
  // (URIError, exit 3) after the target was written to.
  urlCredentials(field, url, passwordVariable);
  // node-pg takes an unknown sslmode for no TLS at all and a missing CA file for a crash (db.ts
  // clientConfig), where libpq (pg_dump, the subscription) refuses both: refused here first.
  const mode = url.searchParams.get('sslmode');
  const [modeField, modeValue] = mode !== null ? [field, mode] : ['PGSSLMODE', process.env.PGSSLMODE || undefined];
  if (modeValue !== undefined && !SSL_MODES.includes(modeValue))
    throw new UsageError(modeField, `${modeField === field ? 'sslmode ' : ''}must be one of ${SSL_MODES.join(', ')}, got "${modeValue}"`);
  const rootCert = url.searchParams.get('sslrootcert');
  const [certField, certPath] = rootCert !== null ? [field, rootCert] : ['PGSSLROOTCERT', process.env.PGSSLROOTCERT || undefined];
  if (certPath !== undefined && certPath !== 'system') {
    try {
      accessSync(certPath, constants.R_OK);
    } catch (err) {
      throw new UsageError(certField, `${certField === field ? 'sslrootcert ' : ''}${certPath} cannot be read (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  return value;
}

/** libpq's sslmode values. */
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
