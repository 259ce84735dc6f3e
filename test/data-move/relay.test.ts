import { RelayOut } from '../../migrations/data-move/relay';

const message = (type: string, body: Buffer) => {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
};

/** What a server sends for a COPY TO: the response, rows with a notice between them, CopyDone, then pg's own messages. */
const rows = [Buffer.from('first row'), Buffer.alloc(0), Buffer.from('x'.repeat(300)), Buffer.from([0, 1, 2, 0x64, 0x63])];
const wire = Buffer.concat([
  message('H', Buffer.from([1, 0, 0])),
  message('d', rows[0]),
  message('d', rows[1]),
  message('N', Buffer.from('notice\0')),
  message('d', rows[2]),
  message('S', Buffer.from('TimeZone\0UTC\0')),
  message('d', rows[3]),
  message('c', Buffer.alloc(0)),
  message('C', Buffer.from('COPY 4\0')),
  message('Z', Buffer.from('I')),
]);
const relayed = Buffer.concat(rows.map((r) => message('d', r)));
const afterCopy = wire.subarray(wire.length - (message('C', Buffer.from('COPY 4\0')).length + message('Z', Buffer.from('I')).length));

/** Feeds `chunks` to a RelayOut as socket reads; returns what it pushed and what pg reads after it (handed back, then the later reads). */
function relay(chunks: Buffer[]) {
  const out = new RelayOut('COPY t TO STDOUT');
  const pushed: Buffer[] = [];
  const handedBack: Buffer[] = [];
  let detached = 0;
  let ended = false;
  const internals = out as unknown as { _buffer: { push(b: Buffer): void }; _detach(): void; _cleanup(): void; push(b: Buffer | null): boolean };
  internals._buffer = { push: (b) => handedBack.push(b) };
  internals._detach = () => void detached++;
  internals._cleanup = () => undefined;
  internals.push = (b) => {
    if (b === null) ended = true;
    else pushed.push(Buffer.from(b));
    return true;
  };
  const parse = (out as unknown as { _parse(b: Buffer): boolean })._parse.bind(out);
  for (const chunk of chunks) {
    if (detached) handedBack.push(chunk);
    else parse(chunk);
  }
  return { pushed: Buffer.concat(pushed), handedBack: Buffer.concat(handedBack), detached, ended, bytes: out.bytes };
}

describe('RelayOut: CopyData messages relayed whole from the socket reads', () => {
  it('relays every CopyData message with its header, skips the others, and hands back what follows CopyDone, however the reads split', () => {
    const expected = { pushed: relayed, handedBack: afterCopy, detached: 1, ended: true, bytes: rows.reduce((n, r) => n + r.length, 0) };
    expect(relay([wire])).toEqual(expected);
    for (let a = 1; a < wire.length; a++) {
      expect({ a, ...relay([wire.subarray(0, a), wire.subarray(a)]) }).toEqual({ a, ...expected });
      for (const b of [a + 1, a + 4, a + 5, a + 6]) {
        if (b >= wire.length) continue;
        expect({ a, b, ...relay([wire.subarray(0, a), wire.subarray(a, b), wire.subarray(b)]) }).toEqual({ a, b, ...expected });
      }
    }
  });

  it('stops at an ErrorResponse and hands it, and all after it, back to pg', () => {
    const error = Buffer.concat([message('E', Buffer.from('SERROR\0Mcanceled\0\0')), message('Z', Buffer.from('E'))]);
    const broken = Buffer.concat([message('H', Buffer.from([1, 0, 0])), message('d', rows[0]), error]);
    for (let a = 1; a < broken.length; a++) {
      const r = relay([broken.subarray(0, a), broken.subarray(a)]);
      expect({ a, pushed: r.pushed, handedBack: r.handedBack, ended: r.ended }).toEqual({ a, pushed: message('d', rows[0]), handedBack: error, ended: false });
    }
  });
});
