import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommand } from '../../scripts/ops/args';

/**
 * Every `npm run ops -- … --env …` command docs/operations.md (and README.md's command table) gives, in a code block or inline,
 * with its placeholders filled as the person on call would (`$ENV`, `"$DB"`, `<orderId>`, one of
 * the alternatives `a|b`, the optional `[--flag value]`), is a command line the CLI takes: the
 * runbooks name no command, argument or flag it refuses.
 */
const DOCS = [join(__dirname, '..', '..', 'docs', 'operations.md'), join(__dirname, '..', '..', 'README.md')];
const ID = '6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f';

function commands(): { line: string; text: string }[] {
  const found: { line: string; text: string }[] = [];
  for (const doc of DOCS) {
    readFileSync(doc, 'utf8')
      .split('\n')
      .forEach((text, i) => {
        for (const m of text.matchAll(/npm run ops -- ([^`#]*)/g)) if (/--env\b/.test(m[1])) found.push({ line: `${doc.split('/').pop()}:${i + 1}`, text: m[1].trim() });
      });
  }
  return found;
}

/** The words of the command line, its placeholders filled. */
function argv(text: string): string[] {
  const filled = text
    .replace(/\\\|/g, '|')
    .replace(/<([a-z-]+(?:\|[a-z-]+)+)>/g, '$1')
    .replace(/\[([^\]]*)\]/g, '$1')
    .replace(/<orderId\|requestId>|<orderId>|<it>/g, ID)
    .replace(/(\S+)(\.\.\.|…)/g, '$1')
    .replace(/<queue>/g, 'doc-jobs')
    .replace(/<clientId>|<batchId>/g, ID)
    .replace(/<prefix>/g, '0f8e6b2c7d1a')
    .replace(/<env>|\$ENV|(?<=--env )…/g, 'prod')
    .replace(/(^|\s)…(?=\s|$)/g, '$1')
    .replace(/"\$DB"|\bURL\b/g, 'postgres://docplatform-prod-db.example.eu-west-3.rds.amazonaws.com:15432/docplatform')
    .replace(/<its window>/g, '6h')
    .replace(/(--(?:sample|max|rate|limit)) N\b/g, '$1 5');
  return filled
    .split(/\s+/)
    .filter(Boolean)
    .map((word) => word.split('|')[0]);
}

test('the runbooks name only command lines npm run ops takes', () => {
  const found = commands();
  expect(found.length).toBeGreaterThan(20);
  for (const { line, text } of found) {
    let refused: string | undefined;
    try {
      // A line that elides its options (`… --env …`) may leave the database to DATABASE_URL.
      parseCommand(argv(text), { DATABASE_URL: 'postgres://127.0.0.1:15432/docplatform' });
    } catch (err) {
      refused = (err as Error).message;
    }
    expect({ line, text, refused }).toEqual({ line, text, refused: undefined });
  }
});
