import { GetAccountSettingsCommand, GetFunctionConcurrencyCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { Demands, LAMBDA_MIN_UNRESERVED, quotaIncreaseCommand, QUOTAS } from './demands';
import { error, Finding, ok } from './finding';

const CHECK = 'lambda-concurrency';

/** Reserved concurrency a function holds now; 0 when it does not exist yet or reserves none. */
async function currentReservation(lambda: LambdaClient, functionName: string): Promise<number> {
  try {
    return (await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: functionName }))).ReservedConcurrentExecutions ?? 0;
  } catch (e) {
    if ((e as { name?: string }).name === 'ResourceNotFoundException') return 0;
    throw e;
  }
}

/**
 * Every function of the environment reserves concurrency (lambdas.*.reservedConcurrency), and
 * Lambda refuses a reservation that leaves less than 100 of the account's limit unreserved. A new
 * account's limit can be as low as 10, which no reservation fits in. The environment's own
 * functions, if they exist already, give back what they hold now.
 */
export async function checkLambdaConcurrency(lambda: LambdaClient, demands: Demands): Promise<Finding> {
  const settings = await lambda.send(new GetAccountSettingsCommand({}));
  const limit = settings.AccountLimit?.ConcurrentExecutions ?? 0;
  const unreserved = settings.AccountLimit?.UnreservedConcurrentExecutions ?? 0;
  const held = (await Promise.all(demands.functions.map((f) => currentReservation(lambda, f.functionName)))).reduce((a, b) => a + b, 0);
  const reservedElsewhere = limit - unreserved - held;
  const left = unreserved + held - demands.reservedConcurrency;
  const needed = reservedElsewhere + demands.reservedConcurrency + LAMBDA_MIN_UNRESERVED;
  const figures =
    `account limit ${limit}, ${reservedElsewhere} reserved by other functions, ${demands.env} reserves ${demands.reservedConcurrency} ` +
    `(${demands.functions.length} functions): ${left} would stay unreserved`;
  if (left < LAMBDA_MIN_UNRESERVED) {
    return error(
      CHECK,
      `${figures}, Lambda requires ${LAMBDA_MIN_UNRESERVED}: the compute deploy fails setting the reservations (PutFunctionConcurrency: InvalidParameterValueException)`,
      `ask for a limit of at least ${needed}: ${quotaIncreaseCommand(QUOTAS.lambdaConcurrency, needed, demands.region)} (or lower lambdas.*.reservedConcurrency in stacks/config.ts)`,
    );
  }
  return ok(CHECK, `${figures} (>= ${LAMBDA_MIN_UNRESERVED})`);
}
