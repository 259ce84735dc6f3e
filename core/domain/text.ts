import * as z from '../zod';

/**
 * The text rule of every value a client or a model gives us, shared by the services'
 * validation and the theme inputs the workers re-check.
 */
/**
 * What a text value may hold. C0 control characters other than tab, line feed and carriage
 * return are refused: PostgreSQL rejects U+0000 in `text` and `jsonb` (so a NUL that got past
 * validation failed every insert, retried or not), and XML 1.0 — the DOCX documents — forbids
 * every one of them. Unpaired UTF-16 surrogates are refused too: `jsonb` rejects them and `text`
 * would silently store U+FFFD. DEL and C1 controls (U+007F–U+009F) are stored as given.
 */
const CONTROL_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string is not acceptable text (positions are 1-based UTF-16 characters), or undefined. */
export function textIssue(value: string): string | undefined {
  const control = CONTROL_CHAR.exec(value);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    return `must not contain control characters (U+${code} at character ${control.index + 1})`;
  }
  const lone = LONE_SURROGATE.exec(value);
  if (lone) return `must be valid Unicode (unpaired surrogate at character ${lone.index + 1})`;
  return undefined;
}

/** A string check for free-text fields. */
export const plainText = z.superRefine<string>((value, ctx) => {
  const message = textIssue(value);
  if (message) ctx.addIssue({ code: 'custom', message, input: value });
});

/**
 * Every string in a JSON value, object keys included, as text: one issue per bad string, at its
 * path, in document order. Iterative, so no nesting depth a body can reach overflows the stack.
 */
export const plainTextDeep = z.superRefine<unknown>((value, ctx) => {
  // Each entry is a value to walk, or (`key`) an object key to check.
  const pending: Array<{ v: unknown; path: PropertyKey[]; key?: true }> = [{ v: value, path: [] }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { v, path } = next;
    if (typeof v === 'string') {
      const message = textIssue(v);
      if (message) ctx.addIssue({ code: 'custom', message: next.key ? `key ${message}` : message, path, input: v });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) pending.push({ v: v[i], path: [...path, i] });
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, item] = entries[i];
        pending.push({ v: item, path: [...path, k] }, { v: k, path: [...path, k], key: true });
      }
    }
  }
});
