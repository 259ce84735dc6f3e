import { Construct } from 'constructs';
import { BudgetsBudget } from '@cdktf/provider-aws/lib/budgets-budget';

export interface BudgetProps {
  name: string;
  monthlyUsd: number;
  /** Cost-allocation tag `env` must be activated in Billing for the filter to match spend. */
  env: string;
  alertEmails: string[];
  alarmTopicArn: string;
}

/** A monthly cost budget of one environment: alert at 80 % of the limit forecast and at 100 % actually spent. */
export class Budget extends Construct {
  readonly budget: BudgetsBudget;

  constructor(scope: Construct, id: string, props: BudgetProps) {
    super(scope, id);
    const notification = (threshold: number, notificationType: 'ACTUAL' | 'FORECASTED') => ({
      comparisonOperator: 'GREATER_THAN',
      threshold,
      thresholdType: 'PERCENTAGE',
      notificationType,
      subscriberSnsTopicArns: [props.alarmTopicArn],
      subscriberEmailAddresses: props.alertEmails.length > 0 ? props.alertEmails : undefined,
    });
    this.budget = new BudgetsBudget(this, 'budget', {
      name: props.name,
      budgetType: 'COST',
      limitAmount: props.monthlyUsd.toFixed(2),
      limitUnit: 'USD',
      timeUnit: 'MONTHLY',
      costFilter: [{ name: 'TagKeyValue', values: [`user:env$${props.env}`] }],
      notification: [notification(80, 'FORECASTED'), notification(100, 'ACTUAL')],
    });
  }
}
