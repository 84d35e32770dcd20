// One log search alert rule (scheduledQueryRules, kind LogAlert) whose query returns a single number in
// `measureColumn`: used for every rate or percentile rule, since a metric alert cannot divide one metric by another.

@description('Rule name in Azure; the alert intake also recognises the rule by it.')
param name string
// Not `description`: a parameter of that name would hide the @description() decorator in this file.
@description('What the rule measures, shown in the portal; starts with the policy\'s signal.')
param alertDescription string
param location string

@description('Resource the query runs against: an Application Insights component, a Cosmos DB account, ...')
param scope string
param query string
param measureColumn string

@allowed(['GreaterThan', 'GreaterThanOrEqual', 'LessThan', 'LessThanOrEqual'])
param operator string

@description('Whole number in the unit of the query (percent, milliseconds): the published type of threshold is int.')
param threshold int

@minValue(0)
@maxValue(4)
param severity int
param windowSize string
param evaluationFrequency string
param actionGroupId string

@description('Delivered as data.customProperties of the common alert schema: incidentSeverity, ruleKey, runbook.')
param customProperties object
param enabled bool = true
param tags object = {}

resource rule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: name
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: name
    description: alertDescription
    severity: severity
    enabled: enabled
    scopes: [
      scope
    ]
    evaluationFrequency: evaluationFrequency
    windowSize: windowSize
    criteria: {
      allOf: [
        {
          query: query
          timeAggregation: 'Average'
          metricMeasureColumn: measureColumn
          operator: operator
          threshold: threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroupId
      ]
      customProperties: customProperties
    }
  }
}

output id string = rule.id
