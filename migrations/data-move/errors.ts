/**
 * Errors the operator can act on. The CLI prints their message alone (no stack trace) and
 * exits with `exitCode`; anything else is an unexpected failure.
 */
export class MoveError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'MoveError';
  }
}

/** Verification found a difference: distinct exit code so automation can tell it from bad input. */
export class MismatchError extends MoveError {
  constructor(message: string) {
    super(message, 1);
  }
}

/**
 * What a move CLI does with an error that ends its run: an operator error is printed alone and
 * logged, exiting with its code; anything else is "unexpected" (exit 3). A mismatch is a report,
 * not a failure: its message goes to stdout.
 */
export function exitOnFailure(err: unknown, log: (event: string, fields: Record<string, unknown>, level: 'error') => void): number {
  if (err instanceof MismatchError) {
    process.stdout.write(`${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof MoveError) {
    process.stderr.write(`error: ${err.message}\n`);
    log('failed', { error: err.message }, 'error');
    return err.exitCode;
  }
  const message = (err as Error)?.message ?? String(err);
  process.stderr.write(`unexpected error: ${message}\n`);
  log('failed', { error: message, unexpected: true }, 'error');
  return 3;
}

interface PgLikeError {
  code?: string;
  message?: string;
}

/** Turns driver/server errors met while connecting into a sentence naming the side and the cause. */
export function describeConnectError(side: string, where: string, err: unknown): MoveError {
  const e = err as PgLikeError;
  const code = e.code ?? '';
  const reason =
    code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
      ? `unreachable (${code}): nothing accepts connections there; check host, port, security groups or the SSM tunnel`
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? `host name does not resolve (${code})`
        : code === 'ETIMEDOUT' || /timeout/i.test(e.message ?? '')
          ? 'connection timed out; check network path and security groups'
          : code === '28P01' || code === '28000'
            ? `authentication failed (${code}): wrong user or password, or pg_hba.conf rejects this client`
            : code === '3D000'
              ? 'database does not exist'
              : `${e.message ?? String(err)}${code ? ` (${code})` : ''}`;
  return new MoveError(`cannot connect to the ${side} database ${where}: ${reason}`);
}
