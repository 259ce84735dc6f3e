import * as fs from 'node:fs';
import * as path from 'node:path';
import { environments, EnvironmentConfig, namePrefix } from '../../stacks/config';
import { environmentLogGroups, LOG_QUERIES, orderStoryQuery, STORY_ID_PLACEHOLDER } from '../../modules/log-queries';
import { resources, synthesizedStack } from '../support/infra-synth';

/**
 * The saved Logs Insights queries (modules/log-queries.ts, created beside the dashboard in the
 * compute stack) against the synthesised stacks: each environment has each one, over the log
 * groups of all its services and workers as the functions and worker tasks actually log to
 * them, and those are the groups `npm run ops -- order --env` queries. docs/operations.md quotes
 * the same text, and every runbook an alarm or budget names is a section of it.
 */
const envs = Object.values(environments).map((c) => [c.env, c] as const);
const doc = fs.readFileSync(path.join(__dirname, '../../docs/operations.md'), 'utf8');

describe.each(envs)('%s saved queries', (env, config: EnvironmentConfig) => {
  const compute = synthesizedStack(`${env}-compute`);
  const groups = resources(compute, 'aws_cloudwatch_log_group');
  /** `${aws_cloudwatch_log_group.x.name}` → the name configured on it. */
  const groupName = (value: string): string => {
    const m = /^\$\{aws_cloudwatch_log_group\.([^.}]+)\.name\}$/.exec(value);
    if (!m) return value;
    const group = groups.find((g) => g.name === m[1]);
    if (!group) throw new Error(`${env}-compute: ${value} names no log group`);
    return group.config.name;
  };
  const definitions = resources(compute, 'aws_cloudwatch_query_definition');

  // Where the services and workers really write: each function's logging_config, each worker service's task's awslogs-group.
  const functionGroups = resources(compute, 'aws_lambda_function').map((fn) => groupName(fn.config.logging_config.log_group));
  const taskDefinitions = resources(compute, 'aws_ecs_task_definition');
  const workerGroups = resources(compute, 'aws_ecs_service').map((service) => {
    const family = /^\$\{aws_ecs_task_definition\.([^.}]+)\.arn\}$/.exec(service.config.task_definition)?.[1];
    const task = taskDefinitions.find((t) => t.name === family);
    const [container] = JSON.parse(task!.config.container_definitions);
    return groupName(container.logConfiguration.options['awslogs-group']);
  });

  test('the services and workers log where environmentLogGroups (the ops CLI) says', () => {
    expect(functionGroups).toHaveLength(6);
    expect(workerGroups).toHaveLength(2);
    expect({ services: functionGroups.sort(), workers: workerGroups.sort() }).toEqual({
      services: [...environmentLogGroups(env).services].sort(),
      workers: [...environmentLogGroups(env).workers].sort(),
    });
  });

  test('one definition per query, in the environment’s folder, with the query text as written once', () => {
    expect(definitions.map((d) => d.config.name).sort()).toEqual(Object.values(LOG_QUERIES).map((q) => `${namePrefix(config.env)}/${q.title}`).sort());
    for (const query of Object.values(LOG_QUERIES)) {
      const definition = definitions.find((d) => d.config.name === `${namePrefix(config.env)}/${query.title}`)!;
      expect(definition.config.query_string).toBe(query.text);
      const over = (definition.config.log_group_names as string[]).map(groupName).sort();
      expect({ query: query.title, over }).toEqual({ query: query.title, over: (query.over === 'services' ? functionGroups : [...functionGroups, ...workerGroups]).sort() });
    }
  });

  test('the order story and the errors cover every service and worker log group', () => {
    for (const query of [LOG_QUERIES.orderStory, LOG_QUERIES.errorsByService]) {
      const definition = definitions.find((d) => d.config.name.endsWith(`/${query.title}`))!;
      expect((definition.config.log_group_names as string[]).map(groupName).sort()).toEqual([...functionGroups, ...workerGroups].sort());
    }
  });
});

describe('the query text', () => {
  test('docs/operations.md quotes each saved query as deployed', () => {
    for (const query of Object.values(LOG_QUERIES)) expect({ query: query.title, quoted: doc.includes(`\`\`\`\n${query.text}\n\`\`\``) }).toEqual({ query: query.title, quoted: true });
  });

  test('the order story of an id replaces each placeholder and nothing else', () => {
    const text = orderStoryQuery('req-1');
    expect(text).not.toContain(STORY_ID_PLACEHOLDER);
    expect(text).toContain('filter orderId = "req-1" or requestId = "req-1"');
    expect(text.replace(/req-1/g, STORY_ID_PLACEHOLDER)).toBe(LOG_QUERIES.orderStory.text);
  });
});

describe('runbook anchors', () => {
  // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
  const anchors = new Set(
    doc.split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => l.replace(/^#+ /, '').trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')),
  );
  const named = envs.flatMap(([env]) =>
    ['network', 'data', 'compute'].flatMap((layer) =>
      resources(synthesizedStack(`${env}-${layer}`), 'aws_cloudwatch_metric_alarm')
        .map((a) => /Runbook: docs\/operations\.md#([a-z0-9-]+)/.exec(a.config.alarm_description ?? '')?.[1])
        .filter((anchor): anchor is string => anchor !== undefined)
        .map((anchor) => `${env}-${layer} ${anchor}`),
    ),
  );

  test('every anchor an alarm description names is a section of docs/operations.md', () => {
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((n) => !anchors.has(n.split(' ')[1]))).toEqual([]);
  });
});
