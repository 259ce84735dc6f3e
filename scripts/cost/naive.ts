import { blocks, TfResource } from './terraformInput';

/** Services a "private everything" VPC usually gets interface endpoints for. */
export const NAIVE_INTERFACE_ENDPOINTS = ['ecr.api', 'ecr.dkr', 'logs', 'secretsmanager', 'sqs', 'sts'];

export const NAIVE_CHANGES = [
  'NAT gateway (with its public IPv4) in every AZ instead of one NAT instance',
  `interface endpoints for ${NAIVE_INTERFACE_ENDPOINTS.join(', ')} in every AZ`,
  'ElastiCache Serverless on Redis OSS instead of Valkey',
  'RDS Multi-AZ, fronted by RDS Proxy',
  'Fargate on-demand x86_64 instead of Fargate Spot ARM64',
  'Lambda on x86_64 instead of arm64',
  'log groups that never expire',
];

function isNatInstance(resource: TfResource): boolean {
  if (resource.type === 'aws_instance') return resource.values.source_dest_check === false;
  return (resource.type === 'aws_autoscaling_group' || resource.type === 'aws_launch_template') && /nat/i.test(resource.name);
}

function synthetic(template: TfResource, type: string, name: string, values: Record<string, unknown>): TfResource {
  return { address: `${type}.${name}`, stack: template.stack, layer: template.layer, type, name, values, count: 1, refs: {} };
}

/**
 * The same environment built with the defaults a first draft usually has. Priced with the same
 * model, it measures what each cost decision of the design saves.
 */
export function naiveVariant(resources: TfResource[], azCount: number): TfResource[] {
  const natInstances = resources.filter(isNatInstance);
  const removed = new Set(natInstances.map((r) => `${r.stack}|${r.address}`));
  // The NAT's own address: on the instance, or on the floating interface its Auto Scaling group attaches.
  const natInterfaces = resources.filter((r) => r.type === 'aws_network_interface' && /nat/i.test(r.name));
  for (const eip of resources.filter((r) => r.type === 'aws_eip')) {
    const onInstance = natInstances.some((nat) => nat.stack === eip.stack && (eip.refs.instance ?? []).includes(nat.address));
    const onInterface = natInterfaces.some((eni) => eni.stack === eip.stack && (eip.refs.network_interface ?? []).includes(eni.address));
    if (onInstance || (onInterface && natInstances.length > 0)) removed.add(`${eip.stack}|${eip.address}`);
  }
  const kept = resources.filter((r) => !removed.has(`${r.stack}|${r.address}`));

  const changed = kept.map((resource): TfResource => {
    const values = { ...resource.values };
    switch (resource.type) {
      case 'aws_elasticache_serverless_cache':
        values.engine = 'redis';
        break;
      case 'aws_db_instance':
        values.multi_az = true;
        break;
      case 'aws_ecs_service':
        values.capacity_provider_strategy = [{ capacity_provider: 'FARGATE', weight: 1 }];
        break;
      case 'aws_ecs_task_definition':
        values.runtime_platform = [{ ...(blocks(values.runtime_platform)[0] ?? {}), cpu_architecture: 'X86_64' }];
        break;
      case 'aws_lambda_function':
        values.architectures = ['x86_64'];
        break;
      case 'aws_cloudwatch_log_group':
        values.retention_in_days = 0;
        break;
      default:
        return resource;
    }
    return { ...resource, values };
  });

  const network = resources.find((r) => r.type === 'aws_vpc') ?? natInstances[0] ?? resources[0];
  if (!network) return changed;
  const added: TfResource[] = [];
  const existingGateways = kept.filter((r) => r.type === 'aws_nat_gateway').length;
  for (let az = existingGateways; az < azCount; az += 1) {
    added.push(synthetic(network, 'aws_nat_gateway', `naive_nat_${az}`, { connectivity_type: 'public' }));
    added.push(synthetic(network, 'aws_eip', `naive_nat_${az}`, { domain: 'vpc' }));
  }
  for (const service of NAIVE_INTERFACE_ENDPOINTS) {
    added.push(synthetic(network, 'aws_vpc_endpoint', `naive_${service.replace('.', '_')}`, {
      vpc_endpoint_type: 'Interface',
      service_name: `com.amazonaws.eu-west-3.${service}`,
      subnet_ids: Array.from({ length: azCount }, (_, i) => `naive-subnet-${i}`),
    }));
  }
  for (const db of kept.filter((r) => r.type === 'aws_db_instance')) {
    added.push(synthetic(db, 'aws_db_proxy', `naive_${db.name}`, { engine_family: 'POSTGRESQL' }));
  }
  return [...changed, ...added];
}
