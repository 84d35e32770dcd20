// One static-threshold metric alert on a single resource (metricAlerts, location 'global'), for counts.

param name string
// Not `description`: a parameter of that name would hide the @description() decorator in this file.
@description('What the rule measures, shown in the portal; starts with the policy\'s signal.')
param alertDescription string
param scope string
param metricNamespace string
param metricName string

@allowed(['Average', 'Minimum', 'Maximum', 'Total', 'Count'])
param timeAggregation string

@allowed(['GreaterThan', 'GreaterThanOrEqual', 'LessThan', 'LessThanOrEqual'])
param operator string
param threshold int

@minValue(0)
@maxValue(4)
param severity int
param windowSize string
param evaluationFrequency string
param actionGroupId string

@description('Sent as webHookProperties, which the common alert schema delivers as data.customProperties.')
param customProperties object
param enabled bool = true
param tags object = {}

resource rule 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    description: alertDescription
    severity: severity
    enabled: enabled
    scopes: [
      scope
    ]
    evaluationFrequency: evaluationFrequency
    windowSize: windowSize
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: metricName
          metricNamespace: metricNamespace
          metricName: metricName
          timeAggregation: timeAggregation
          operator: operator
          threshold: threshold
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroupId
        webHookProperties: customProperties
      }
    ]
  }
}

output id string = rule.id
