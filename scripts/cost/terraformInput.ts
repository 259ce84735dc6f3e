import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/** One managed resource of a stack, as synthesised by cdktf or planned by Terraform. */
export interface TfResource {
  address: string;
  stack: string;
  layer: string;
  type: string;
  name: string;
  values: Record<string, unknown>;
  /** Instances the resource stands for (`count`); `countNote` says when it had to be assumed. */
  count: number;
  countNote?: string;
  /** Attribute → addresses of the resources it references (`aws_x.name`). */
  refs: Record<string, string[]>;
}

type Json = Record<string, unknown>;

const REF_PATTERN = /\$\{([a-z0-9_]+\.[A-Za-z0-9_-]+)(?:\[[^\]]*\])?\.[^}]*\}/g;

function collectRefs(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') {
    for (const match of value.matchAll(REF_PATTERN)) {
      if (!match[1].startsWith('data.') && !match[1].startsWith('var.') && !match[1].startsWith('local.')) into.add(match[1]);
    }
  } else if (Array.isArray(value)) {
    for (const item of value) collectRefs(item, into);
  } else if (value && typeof value === 'object') {
    for (const item of Object.values(value)) collectRefs(item, into);
  }
}

function refsOf(values: Json): Record<string, string[]> {
  const refs: Record<string, string[]> = {};
  for (const [attribute, value] of Object.entries(values)) {
    const found = new Set<string>();
    collectRefs(value, found);
    if (found.size > 0) refs[attribute] = [...found];
  }
  return refs;
}

function countOf(values: Json): { count: number; countNote?: string } {
  if (values.count === undefined) return values.for_each === undefined ? { count: 1 } : { count: 1, countNote: 'for_each: one instance assumed' };
  if (typeof values.count === 'number') return { count: values.count };
  const literal = Number(values.count);
  return Number.isFinite(literal) ? { count: literal } : { count: 1, countNote: `count = ${String(values.count)}: one instance assumed` };
}

/** Resources of one synthesised stack (`cdktf.out/stacks/<stack>/cdk.tf.json`). */
export function resourcesOfSynthesizedStack(file: string, stack: string, layer: string): TfResource[] {
  const document = JSON.parse(readFileSync(file, 'utf8')) as { resource?: Record<string, Record<string, Json>> };
  const resources: TfResource[] = [];
  for (const [type, byName] of Object.entries(document.resource ?? {})) {
    for (const [name, values] of Object.entries(byName)) {
      resources.push({ address: `${type}.${name}`, stack, layer, type, name, values, refs: refsOf(values), ...countOf(values) });
    }
  }
  return resources;
}

/** Every stack of an environment in a cdktf output directory (`<env>-<layer>`). */
export function synthesizedStacksOf(outDir: string, env: string): { stack: string; layer: string; file: string }[] {
  const stacksDir = join(outDir, 'stacks');
  if (!existsSync(stacksDir)) return [];
  return readdirSync(stacksDir)
    .filter((stack) => stack.startsWith(`${env}-`) && existsSync(join(stacksDir, stack, 'cdk.tf.json')))
    .sort()
    .map((stack) => ({ stack, layer: stack.slice(env.length + 1), file: join(stacksDir, stack, 'cdk.tf.json') }));
}

export function readSynthesizedEnvironment(outDir: string, env: string): TfResource[] {
  return synthesizedStacksOf(outDir, env).flatMap(({ file, stack, layer }) => resourcesOfSynthesizedStack(file, stack, layer));
}

interface PlanResource {
  address: string;
  mode: string;
  type: string;
  name: string;
  values?: Json;
}

interface PlanModule {
  resources?: PlanResource[];
  child_modules?: PlanModule[];
  address?: string;
}

interface ConfigResource {
  address: string;
  expressions?: Record<string, unknown>;
}

function planResources(module: PlanModule | undefined): PlanResource[] {
  if (!module) return [];
  return [...(module.resources ?? []), ...(module.child_modules ?? []).flatMap(planResources)];
}

function expressionReferences(expression: unknown, into: Set<string>): void {
  if (Array.isArray(expression)) {
    for (const item of expression) expressionReferences(item, into);
    return;
  }
  if (!expression || typeof expression !== 'object') return;
  for (const [key, value] of Object.entries(expression)) {
    if (key === 'references' && Array.isArray(value)) {
      for (const reference of value as string[]) {
        const [type, name] = reference.split('.');
        if (name && !['data', 'var', 'local', 'module'].includes(type)) into.add(`${type}.${name.replace(/\[.*$/, '')}`);
      }
    } else {
      expressionReferences(value, into);
    }
  }
}

/** Plan values of new resources hide references as unknowns; the configuration section keeps them. */
function configReferences(plan: Json): Map<string, Record<string, string[]>> {
  const byAddress = new Map<string, Record<string, string[]>>();
  const root = (plan.configuration as { root_module?: { resources?: ConfigResource[] } } | undefined)?.root_module;
  for (const resource of root?.resources ?? []) {
    const refs: Record<string, string[]> = {};
    for (const [attribute, expression] of Object.entries(resource.expressions ?? {})) {
      const found = new Set<string>();
      expressionReferences(expression, found);
      if (found.size > 0) refs[attribute] = [...found];
    }
    byAddress.set(resource.address, refs);
  }
  return byAddress;
}

/**
 * Resources of a Terraform plan in JSON (`terraform show -json plan`). The layer comes from the
 * `layer`/`env` tags the providers' default_tags put on the stack's resources, else from the file name.
 */
export function readPlan(file: string): TfResource[] {
  let plan: Json;
  try {
    plan = JSON.parse(readFileSync(file, 'utf8')) as Json;
  } catch (error) {
    throw new Error(`plan ${file}: cannot read it as JSON (${(error as Error).message})`);
  }
  const planned = (plan.planned_values as { root_module?: PlanModule } | undefined)?.root_module;
  if (!planned) throw new Error(`plan ${file}: no planned_values.root_module; pass the output of \`terraform show -json <planfile>\``);
  const references = configReferences(plan);
  const managed = planResources(planned).filter((resource) => resource.mode === 'managed');
  // A plan covers one stack; untaggable resources (routes, associations) take the stack's tags.
  const tagged = managed.map((r) => (r.values?.tags_all ?? r.values?.tags ?? {}) as Record<string, string>).find((tags) => tags.layer);
  const fallback = basename(file).replace(/\.json$/, '').replace(/\.plan$/, '');
  const layer = tagged?.layer ?? fallback;
  const stack = tagged?.env ? `${tagged.env}-${layer}` : fallback;
  return managed.map((resource) => ({
    address: resource.address,
    stack,
    layer,
    type: resource.type,
    name: resource.name,
    values: resource.values ?? {},
    count: 1,
    refs: references.get(resource.address.replace(/\[[^\]]*\]$/, '')) ?? {},
  }));
}

/** Terraform blocks arrive as an object (cdktf, max-items 1) or a list (plan JSON). */
export function blocks(value: unknown): Json[] {
  if (Array.isArray(value)) return value.filter((item): item is Json => !!item && typeof item === 'object');
  return value && typeof value === 'object' ? [value as Json] : [];
}
