/** The six Lambda services, their local ports (http transport) and their env-var stem. */
export const SERVICE_NAMES = ['gateway-b2c', 'gateway-b2b', 'core-llm', 'theme', 'order', 'client'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const LOCAL_PORTS: Record<ServiceName, number> = {
  'gateway-b2c': 4101,
  'gateway-b2b': 4102,
  'core-llm': 4103,
  theme: 4104,
  order: 4105,
  client: 4106,
};

/** `core-llm` → `CORE_LLM`, as in SERVICE_URL_<NAME> / SERVICE_FUNCTION_<NAME> / PORT_<NAME>. */
export const envStem = (service: ServiceName): string => service.toUpperCase().replace(/-/g, '_');
