import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { OPENAPI_PATH } from '../../scripts/openapi/document';

/**
 * Holds an answer of the public API against the committed contract (docs/api/openapi.json, the
 * file the front end generates its client from): the status must be one the operation lists
 * (or its `default`), the headers it declares must be there, and a JSON body must validate
 * against its schema (ajv, JSON Schema 2020-12, the dialect of OpenAPI 3.1). A request the
 * document has no operation for (an internal service's route, a wrong method) is not its
 * business and passes.
 */
interface Operation {
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema: object }> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: object;
}

const DOCUMENT_ID = 'openapi';
let loaded: { document: Document; ajv: Ajv2020; routes: { pattern: RegExp; template: string }[] } | undefined;
const validators = new Map<string, ValidateFunction>();

function contract() {
  if (loaded) return loaded;
  const document = JSON.parse(readFileSync(join(__dirname, '..', '..', OPENAPI_PATH), 'utf8')) as Document;
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  // The components' own `#/components/...` references resolve inside this schema.
  ajv.addKeyword('components');
  ajv.addSchema({ $id: DOCUMENT_ID, components: document.components });
  const routes = Object.keys(document.paths).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  loaded = { document, ajv, routes };
  return loaded;
}

export interface ContractAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** The contract's objections to an answer of `method path` ([] when it complies or the document has no such operation). */
export function contractViolations(method: string, path: string, answer: ContractAnswer): string[] {
  const { document, ajv, routes } = contract();
  const pathname = new URL(path, 'http://contract').pathname;
  const route = routes.find((r) => r.pattern.test(pathname));
  const operation = route && document.paths[route.template][method.toLowerCase()];
  if (!route || !operation) return [];
  const where = `${method.toUpperCase()} ${route.template} → ${answer.status}`;
  const response = operation.responses[String(answer.status)] ?? operation.responses.default;
  if (!response) return [`${where}: status not in the contract`];
  const problems: string[] = [];
  for (const name of Object.keys(response.headers ?? {})) {
    if (!answer.headers.has(name)) problems.push(`${where}: header ${name} missing`);
  }
  const schema = response.content?.['application/json']?.schema;
  if (!schema) return problems;
  if (!/\bjson\b/.test(answer.headers.get('content-type') ?? '') || answer.json === undefined) {
    return [...problems, `${where}: a JSON body was expected, got ${answer.headers.get('content-type')}: ${answer.text.slice(0, 200)}`];
  }
  const key = `${route.template} ${method} ${answer.status}`;
  let validate = validators.get(key);
  if (!validate) {
    const ref = (schema as { $ref?: string }).$ref;
    validate = ref ? ajv.compile({ $ref: `${DOCUMENT_ID}${ref}` }) : ajv.compile(schema);
    validators.set(key, validate);
  }
  if (!validate(answer.json)) {
    problems.push(...(validate.errors ?? []).map((e) => `${where}: body${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`));
  }
  return problems;
}

/** Throws, naming each objection, when an answer breaks the contract. */
export function assertContract(method: string, path: string, answer: ContractAnswer): void {
  const problems = contractViolations(method, path, answer);
  if (problems.length > 0) throw new Error(`the answer breaks docs/api/openapi.json:\n  ${problems.join('\n  ')}\nbody: ${answer.text.slice(0, 500)}`);
}
