import { CopyStreamQuery, CopyToStreamQuery, from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { ReadableOptions, WritableOptions } from 'node:stream';

/**
 * COPY from one server into another with the source's CopyData messages relayed as they arrive
 * on the socket, their framing included: the server sends one message per row, and
 * pg-copy-streams' reader takes each one apart (a buffer object per row, then a copy of them all
 * into one chunk) for its writer to frame the chunk again. Relayed, the bytes are not copied
 * at all and no object is made per row: measured by --cpu-prof over the bench's 5.6 M rows
 * (docs/data-migration.md). Both ends keep pg-copy-streams' handling of the protocol around the
 * data (hand-over of the connection, errors, CopyDone, backpressure); only the data path differs.
 * pg-copy-streams is pinned (7.0.0): the two methods overridden here are its own.
 */

const COPY_DATA = 0x64;
const COPY_DONE = 0x63;
const ERROR_RESPONSE = 0x45;
/** Message type byte and length word. */
const HEADER = 5;

/** The parts of pg-copy-streams' reader this class builds on. */
interface CopyToInternals {
  _buffer: { push(data: Buffer): void };
  _detach(): void;
  _cleanup(): void;
}

const CopyToQuery = Object.getPrototypeOf(copyTo('')).constructor as new (text: string, options?: ReadableOptions) => CopyToStreamQuery;
const CopyFromQuery = Object.getPrototypeOf(copyFrom('')).constructor as new (text: string, options?: WritableOptions) => CopyStreamQuery;

/** COPY … TO STDOUT whose chunks are whole CopyData messages, header included; for `RelayIn` only. */
export class RelayOut extends CopyToQuery {
  /** Bytes of row data relayed (without the messages' headers). */
  bytes = 0;
  /** Bytes of the current message not yet seen, and whether they are relayed (CopyData) or skipped. */
  private left = 0;
  private relaying = false;
  /** A message header split across two socket reads. */
  private partial: Buffer | undefined;

  /**
   * Called by pg-copy-streams with each socket read once the query is sent; returns whether to
   * keep reading. Every message but CopyData (CopyOutResponse, notices, parameter changes) is
   * skipped; CopyDone or an error hands the rest of the read back to pg, as the original does.
   */
  _parse(chunk: Buffer): boolean {
    const self = this as unknown as CopyToInternals;
    const buf = this.partial ? Buffer.concat([this.partial, chunk]) : chunk;
    this.partial = undefined;
    let drained = true;
    let runStart = -1;
    let pos = 0;
    const flush = (end: number) => {
      if (runStart >= 0 && end > runStart) drained = this.push(buf.subarray(runStart, end)) && drained;
      runStart = -1;
    };
    while (pos < buf.length) {
      if (this.left > 0) {
        const n = Math.min(this.left, buf.length - pos);
        if (this.relaying && runStart < 0) runStart = pos;
        if (!this.relaying) flush(pos);
        pos += n;
        this.left -= n;
        continue;
      }
      if (buf.length - pos < HEADER) {
        flush(pos);
        this.partial = Buffer.from(buf.subarray(pos));
        return drained;
      }
      const type = buf[pos];
      const length = buf.readUInt32BE(pos + 1);
      if (type === COPY_DATA) {
        if (runStart < 0) runStart = pos;
        this.bytes += length - 4;
        this.relaying = true;
      } else {
        flush(pos);
        if (type === COPY_DONE || type === ERROR_RESPONSE) {
          const rest = buf.subarray(type === COPY_DONE ? pos + 1 + length : pos);
          if (rest.length) self._buffer.push(rest);
          self._detach();
          if (type === COPY_DONE) {
            this.push(null);
            self._cleanup();
          }
          return false;
        }
        this.relaying = false;
      }
      this.left = 1 + length;
    }
    flush(pos);
    return drained;
  }
}

/** COPY … FROM STDIN fed by `RelayOut`: its chunks are already CopyData messages, written as they are. */
export class RelayIn extends CopyFromQuery {
  flushChunk(chunk: Buffer): boolean {
    return (this as unknown as { connection: { stream: NodeJS.WritableStream } }).connection.stream.write(chunk);
  }

  /** The server answered the COPY with an error: there is nothing left to cancel. */
  private refused = false;

  handleError(err: Error): void {
    this.refused = true;
    (CopyFromQuery.prototype as unknown as { handleError(err: Error): void }).handleError.call(this, err);
  }

  /**
   * pg-copy-streams answers a destroy with CopyFail and waits for the server's error. When the
   * server has refused the COPY already (a row it rejects mid-stream: a constraint, a trigger), that
   * error was handled, often by the very emit that makes the pipeline destroy this stream: nothing
   * would ever answer, and the pipeline would wait for this stream's close for ever.
   */
  _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.refused) return cb(err);
    (CopyFromQuery.prototype as unknown as { _destroy(err: Error | null, cb: (error?: Error | null) => void): void })._destroy.call(this, err, cb);
  }
}
