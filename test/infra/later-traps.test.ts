import { environments, EnvironmentConfig } from '../../stacks/config';
import { secretRecoveryDays } from '../../stacks/data';
import { allResources, resources, synthesizedStack } from '../support/infra-synth';

/**
 * What would break the second, third or tenth deploy (or a teardown) rather than the first, held
 * against the synthesised stacks of both environments (docs/deploy.md, "Later traps").
 */
const envs = Object.values(environments).map((c) => [c.env, c] as const);

describe.each(envs)('%s', (env, config: EnvironmentConfig) => {
  const stack = (layer: string) => `${env}-${layer}`;

  test('teardown.destroyWithContents: every bucket and image repository is destroyed with its contents in dev, refused with them in prod', () => {
    expect(config.teardown.destroyWithContents).toBe(env === 'dev');
    const buckets = ['network', 'data', 'edge'].flatMap((layer) => resources(stack(layer), 'aws_s3_bucket'));
    expect(buckets.length).toBeGreaterThanOrEqual(3);
    for (const b of buckets) expect({ bucket: b.address, forceDestroy: b.config.force_destroy ?? false }).toEqual({ bucket: b.address, forceDestroy: config.teardown.destroyWithContents });
    const repositories = resources(stack('compute'), 'aws_ecr_repository');
    expect(repositories).toHaveLength(3);
    for (const r of repositories) expect({ repository: r.config.name, forceDelete: r.config.force_delete ?? false }).toEqual({ repository: r.config.name, forceDelete: config.teardown.destroyWithContents });
  });

  test('teardown.secretRecoveryDays: a deleted secret frees its name at once in dev (a re-created dev can create it again), stays 7 days recoverable in prod', () => {
    expect(config.teardown.secretRecoveryDays).toBe(env === 'dev' ? 0 : 7);
    const secrets = resources(stack('data'), 'aws_secretsmanager_secret');
    expect(secrets).toHaveLength(5);
    for (const s of secrets) expect({ secret: s.config.name, days: s.config.recovery_window_in_days }).toEqual({ secret: s.config.name, days: config.teardown.secretRecoveryDays });
  });

  test('the RDS parameter group is created before the old one is destroyed under a name of its own (name_prefix): a replacement never collides with the old name', () => {
    const [group] = resources(stack('data'), 'aws_db_parameter_group');
    expect(group.config.lifecycle.create_before_destroy).toBe(true);
    expect(group.config.name).toBeUndefined();
    expect(group.config.name_prefix).toBe(`docplatform-${env}-postgres${config.database.engineVersion.split('.')[0]}-`);
    const [db] = resources(stack('data'), 'aws_db_instance');
    expect(db.config.parameter_group_name).toBe(`\${${group.address}.name}`);
  });

  test('the Aurora variant\'s cluster parameter group too: name_prefix with create_before_destroy', () => {
    const [group] = resources(synthesizedStack(stack('data'), 'aurora'), 'aws_rds_cluster_parameter_group');
    expect(group.config.lifecycle.create_before_destroy).toBe(true);
    expect(group.config.name).toBeUndefined();
    expect(group.config.name_prefix).toBe(`docplatform-${env}-aurora-postgresql${config.database.aurora.engineVersion.split('.')[0]}-`);
    const [cluster] = resources(synthesizedStack(stack('data'), 'aurora'), 'aws_rds_cluster');
    expect(cluster.config.db_cluster_parameter_group_name).toBe(`\${${group.address}.name}`);
  });

  test('AWS\'s automatic minor upgrades never make an apply plan a downgrade: the instance names its major only, the Aurora cluster and its instances ignore engine_version', () => {
    const [db] = resources(stack('data'), 'aws_db_instance');
    expect(db.config).toMatchObject({ auto_minor_version_upgrade: true, engine_version: expect.stringMatching(/^\d+$/) });
    const aurora = synthesizedStack(stack('data'), 'aurora');
    const instances = resources(aurora, 'aws_rds_cluster_instance');
    expect(instances.length).toBeGreaterThan(0);
    for (const r of [...resources(aurora, 'aws_rds_cluster'), ...instances]) {
      expect({ resource: r.address, ignored: r.config.lifecycle?.ignore_changes }).toEqual({ resource: r.address, ignored: ['engine_version'] });
    }
    instances.forEach((i) => expect(i.config.auto_minor_version_upgrade).toBe(true));
  });

  test('a change of capacity_provider_strategy is an in-place update of the worker services (force_new_deployment), not a replacement', () => {
    const services = resources(stack('compute'), 'aws_ecs_service');
    expect(services).toHaveLength(2);
    for (const s of services) {
      expect({ service: s.config.name, force: s.config.force_new_deployment }).toEqual({ service: s.config.name, force: true });
      expect(s.config.capacity_provider_strategy.length).toBeGreaterThan(0);
    }
  });

  test('the NAT instance boots only once its subnet routes to the internet gateway: the group waits for the public route and that subnet’s association', () => {
    if (config.network.egress !== 'nat-instance') return;
    const [group] = resources(stack('network'), 'aws_autoscaling_group');
    expect(group.config.depends_on).toEqual(expect.arrayContaining(['aws_route.public-default', `aws_route_table_association.public-rta-${config.network.natAz}`]));
    const association = resources(stack('network'), 'aws_route_table_association').find((a) => a.name === `public-rta-${config.network.natAz}`)!;
    expect(association.config.route_table_id).toBe('${aws_route_table.public-rt.id}');
    const subnet = allResources(stack('network')).find((r) => `\${${r.type}.${r.name}.id}` === association.config.subnet_id)!;
    // The subnet the group launches into.
    expect(group.config.vpc_zone_identifier).toEqual([`\${aws_subnet.${subnet.name}.id}`]);
  });
});

test('secretRecoveryDays refuses what Secrets Manager refuses (1 to 6, over 30), naming the field', () => {
  for (const days of [0, 7, 30]) expect(secretRecoveryDays({ env: 'x', teardown: { destroyWithContents: false, secretRecoveryDays: days } })).toBe(days);
  for (const days of [1, 6, 31, 7.5]) {
    expect(() => secretRecoveryDays({ env: 'x', teardown: { destroyWithContents: false, secretRecoveryDays: days } })).toThrow(`teardown.secretRecoveryDays of x: must be 0 or 7 to 30`);
  }
});
