import { badRequest } from './errors';

/**
 * A ceiling on how deeply a JSON request body may nest, checked on the raw bytes before it is
 * parsed. JSON.parse copes with any depth, but most of what runs after it recurses:
 * JSON.stringify (the internal client, the database driver, the logger), zod. A 60 KB body of
 * 30,000 nested arrays overflows the stack there and becomes a 5xx; refused here it is a 400.
 * 64 levels is far beyond any document input, batch row or webhook event the platform takes.
 * The doc-generation worker scans Pandoc's JSON AST of a DOCX the same way, with its own ceiling
 * (containers/doc-generation/render/pandoc.ts).
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;

/**
 * Where the text nests deeper than `maxDepth` containers (the root object or array is level 1),
 * as the path of the root's member holding the excess (`.input`, `[3]`); undefined when it does
 * not. One pass over the bytes, no recursion, no parse; brackets inside strings do not count.
 * Text that is not JSON is scanned the same way (the parser that follows rejects it).
 */
export function jsonNestingExceeding(raw: Uint8Array, maxDepth = MAX_JSON_DEPTH): string | undefined {
  let depth = 0;
  let rootIsArray = false;
  let index = 0;
  let key = '';
  let expectKey = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === QUOTE) {
      const start = i;
      for (i++; i < raw.length && raw[i] !== QUOTE; i++) if (raw[i] === BACKSLASH) i++;
      // Only the root's keys are decoded: they name the field.
      if (depth === 1 && expectKey) {
        key = decodeKey(raw, start, i);
        expectKey = false;
      }
      continue;
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth += 1;
      if (depth > maxDepth) return rootIsArray ? `[${index}]` : `.${key}`;
      if (depth === 1) {
        rootIsArray = c === OPEN_ARRAY;
        expectKey = !rootIsArray;
        index = 0;
      }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth > 0) depth -= 1;
    } else if (c === COMMA && depth === 1) {
      if (rootIsArray) index += 1;
      else expectKey = true;
    }
  }
  return undefined;
}

function decodeKey(raw: Uint8Array, start: number, end: number): string {
  const text = Buffer.from(raw.buffer, raw.byteOffset + start, Math.min(end + 1, raw.length) - start).toString('utf8');
  try {
    return String(JSON.parse(text));
  } catch {
    return text.replace(/^"|"$/g, '');
  }
}

/** Throws the 400 naming the field (under `prefix`, e.g. `body.input`) when `raw` nests too deeply. */
export function assertJsonDepth(raw: Uint8Array, prefix = 'body', maxDepth = MAX_JSON_DEPTH): void {
  const at = jsonNestingExceeding(raw, maxDepth);
  if (at !== undefined) throw badRequest([{ field: `${prefix}${at}`, message: `nests deeper than ${maxDepth} levels` }]);
}
