import * as z from '../zod';
import { badRequest, FieldIssue } from '../errors';
import { textIssue } from './text';
import { MAX_PROMPT } from './generation-budget';

/**
 * Prompt templates hold `{{name}}` placeholders; an order's input must give each of them as a
 * non-empty string of text (no control characters but tab and line breaks, no unpaired
 * surrogate: see `textIssue`) and nothing else, which is what lets the order service (B2C) and
 * gateway-b2b answer 400 naming the field (`body.input.<name>`, `rows[3].<name>`) before
 * anything is written, and the b2b-batch worker reject a row rather than fail its chunk insert.
 * The prompt the values make must fit core-llm's MAX_PROMPT, as core-llm counts it (trimmed).
 */
const PLACEHOLDER = /\{\{\s*([a-zA-Z][a-zA-Z0-9_]{0,40})\s*\}\}/g;
export const MAX_INPUT_VALUE = 2000;

export function placeholdersOf(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

export function renderPrompt(template: string, input: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (_, name: string) => input[name] ?? '');
}

export function inputIssues(template: string, input: unknown, prefix: string): FieldIssue[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return [{ field: prefix, message: 'must be an object' }];
  const values = input as Record<string, unknown>;
  const expected = placeholdersOf(template);
  const issues: FieldIssue[] = [];
  for (const name of expected) {
    const v = values[name];
    if (typeof v !== 'string' || v.trim() === '') issues.push({ field: `${prefix}.${name}`, message: 'required non-empty string' });
    else if (v.length > MAX_INPUT_VALUE) issues.push({ field: `${prefix}.${name}`, message: `at most ${MAX_INPUT_VALUE} characters` });
    else {
      const text = textIssue(v);
      if (text) issues.push({ field: `${prefix}.${name}`, message: text });
    }
  }
  for (const name of Object.keys(values)) {
    if (expected.includes(name)) continue;
    const text = textIssue(name);
    issues.push({ field: `${prefix}.${name}`, message: text ? `key ${text}` : 'not a field of this theme' });
  }
  // Each value within its limit, the prompt they make may still be longer than core-llm takes: an
  // order accepted (and paid) here would then only fail at generation, with no retry to fix it.
  if (issues.length === 0) {
    const length = renderPrompt(template, values as Record<string, string>).trim().length;
    if (length > MAX_PROMPT) {
      issues.push({ field: prefix, message: `makes a prompt of ${length} characters with this theme; at most ${MAX_PROMPT}: shorten the values` });
    }
  }
  return issues;
}

export function validateInput(template: string, input: unknown, prefix = 'body.input'): Record<string, string> {
  const issues = inputIssues(template, input, prefix);
  if (issues.length > 0) throw badRequest(issues);
  return input as Record<string, string>;
}

export const slugSchema = z.string().check(z.regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a theme slug (lowercase letters, digits, dashes)'));

/** The public view of a theme. */
export interface ThemeView {
  id: string;
  slug: string;
  title: string;
  outputFormat: 'pdf' | 'docx' | 'html';
  priceCents: number;
  currency: 'eur';
  fields: string[];
  active: boolean;
}
