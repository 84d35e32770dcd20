// Monitoring as code for Petanque Life: the primary action group and the six platform alert rules.
//
// The numbers (severity, threshold, window, frequency) come from incidents/domain/policy.toml, the single source of truth:
// tests/integration/test_infrastructure.py fails when this file and the policy disagree. Change the policy first.
// Every rule carries customProperties {incidentSeverity, ruleKey, runbook}, which the alert intake reads.

@description('Label of this environment (dev, prod), used in tags only.')
param environmentName string

@description('Region of the log alert rules (metric alerts and the action group are global).')
param location string = resourceGroup().location

@description('Email receivers: [{ name, emailAddress }]. Use team lists, not personal addresses.')
param emailReceivers array

@description('The alert function URL: https://<host>/api/v1/alerts/azure-monitor/secure (secure webhook, no key), or with useAadAuth false https://<host>/api/v1/alerts/azure-monitor?code=<function key>.')
@secure()
param alertWebhookUri string

// Secure webhook by default: Azure Monitor also sends an Entra ID token that the intake checks (ALERTS_AAD_AUDIENCE),
// so the function key alone is not enough to post an alert. `false` is the documented fallback (key only).
// https://learn.microsoft.com/azure/azure-monitor/alerts/action-groups#secure-webhook
@description('Secure webhook (default): Azure Monitor also sends an Entra ID token for the app registration below.')
param useAadAuth bool = true

@description('Secure webhook: object ID of the app registration the token is for.')
param webhookObjectId string = ''

@description('Secure webhook: identifier URI of that app registration (ALERTS_AAD_AUDIENCE on the function app).')
param webhookIdentifierUri string = ''

@description('Secure webhook: tenant of that app registration.')
param webhookTenantId string = tenant().tenantId

@description('Base URL under which the repository files are browsable, e.g. https://github.com/<org>/<repo>/blob/main.')
param runbookBaseUrl string

@description('Application Insights component of the platform API (requests table): 5xx rate, latency, Stripe webhook.')
param platformAppInsightsId string

@description('Cosmos DB account of the platform; its DataPlaneRequests logs go to Log Analytics (resource-specific).')
param cosmosAccountId string

@description('Communication Services resource sending the platform email; EmailStatusUpdateOperational logs enabled.')
param communicationServiceId string

@description('Container App serving the platform API; the restart rule reads its name from this id.')
param containerAppId string

@description('Log Analytics workspace that receives the Container Apps environment\'s system logs (restart rule).')
param containerAppsWorkspaceId string

@description('Path prefix of API requests, for the latency rule.')
param apiPathPrefix string = '/api/'

@description('Path of the Stripe webhook endpoint on the platform API.')
param stripeWebhookPath string = '/api/webhooks/stripe'

param tags object = {}

var allTags = union(tags, { environment: environmentName, purpose: 'incident-alerting' })
var containerAppName = last(split(containerAppId, '/'))

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-petanque-primary'
  location: 'Global'
  tags: allTags
  properties: {
    groupShortName: 'petanque-oc'
    enabled: true
    emailReceivers: [for receiver in emailReceivers: {
      name: receiver.name
      emailAddress: receiver.emailAddress
      useCommonAlertSchema: true
    }]
    // Our function drafts the incident and posts to Slack itself: an action group cannot speak Slack's format.
    webhookReceivers: [
      {
        name: 'incident-intake'
        serviceUri: alertWebhookUri
        useCommonAlertSchema: true
        useAadAuth: useAadAuth
        objectId: useAadAuth ? webhookObjectId : null
        identifierUri: useAadAuth ? webhookIdentifierUri : null
        tenantId: useAadAuth ? webhookTenantId : null
      }
    ]
  }
}

// Sev1: share of HTTP requests answered 5xx, > 1 % over 5 minutes.
module http5xxRate 'modules/log-alert.bicep' = {
  name: 'alert-http-5xx-rate'
  params: {
    name: 'petanque-http-5xx-rate'
    alertDescription: 'Share of HTTP requests answered with a 5xx status, in percent.'
    location: location
    scope: platformAppInsightsId
    query: loadTextContent('queries/http-5xx-rate.kql')
    measureColumn: 'FailedPercent'
    operator: 'GreaterThan'
    threshold: 1
    severity: 1
    windowSize: 'PT5M'
    evaluationFrequency: 'PT1M'
    actionGroupId: actionGroup.id
    customProperties: {
      incidentSeverity: 'sev1'
      ruleKey: 'http-5xx-rate'
      runbook: '${runbookBaseUrl}/docs/engineering/operations/runbooks/http-5xx-rate.md'
    }
    tags: allTags
  }
}

// Sev1: share of Cosmos DB requests throttled (429), > 10 % over 5 minutes.
module cosmosThrottling 'modules/log-alert.bicep' = {
  name: 'alert-cosmos-ru-throttling'
  params: {
    name: 'petanque-cosmos-ru-throttling'
    alertDescription: 'Share of Cosmos DB requests throttled with status 429, in percent.'
    location: location
    scope: cosmosAccountId
    query: loadTextContent('queries/cosmos-ru-throttling.kql')
    measureColumn: 'ThrottledPercent'
    operator: 'GreaterThan'
    threshold: 10
    severity: 1
    windowSize: 'PT5M'
    evaluationFrequency: 'PT1M'
    actionGroupId: actionGroup.id
    customProperties: {
      incidentSeverity: 'sev1'
      ruleKey: 'cosmos-ru-throttling'
      runbook: '${runbookBaseUrl}/docs/engineering/operations/runbooks/cosmos-ru-throttling.md'
    }
    tags: allTags
  }
}

// Sev1: share of emails sent through ACS that bounced, > 5 % over 15 minutes.
module emailBounceRate 'modules/log-alert.bicep' = {
  name: 'alert-acs-email-bounce-rate'
  params: {
    name: 'petanque-acs-email-bounce-rate'
    alertDescription: 'Share of emails sent through Azure Communication Services that bounced, in percent.'
    location: location
    scope: communicationServiceId
    query: loadTextContent('queries/acs-email-bounce-rate.kql')
    measureColumn: 'BouncedPercent'
    operator: 'GreaterThan'
    threshold: 5
    severity: 1
    windowSize: 'PT15M'
    evaluationFrequency: 'PT5M'
    actionGroupId: actionGroup.id
    customProperties: {
      incidentSeverity: 'sev1'
      ruleKey: 'acs-email-bounce-rate'
      runbook: '${runbookBaseUrl}/docs/engineering/operations/runbooks/acs-email-bounce-rate.md'
    }
    tags: allTags
  }
}

// Sev2: new Container App container restarts (terminations and back-offs in the system logs), > 3 in an hour.
// A log alert, not the RestartCount metric, which is each replica's running total: see the query.
module containerRestarts 'modules/log-alert.bicep' = {
  name: 'alert-container-app-restarts'
  params: {
    name: 'petanque-container-app-restarts'
    alertDescription: 'New Container App container restarts (terminations and back-offs in the system logs).'
    location: location
    scope: containerAppsWorkspaceId
    query: replace(loadTextContent('queries/container-app-restarts.kql'), '{containerAppName}', containerAppName)
    measureColumn: 'Restarts'
    operator: 'GreaterThan'
    threshold: 3
    severity: 2
    windowSize: 'PT1H'
    evaluationFrequency: 'PT15M'
    actionGroupId: actionGroup.id
    customProperties: {
      incidentSeverity: 'sev2'
      ruleKey: 'container-app-restarts'
      runbook: '${runbookBaseUrl}/docs/engineering/operations/runbooks/container-app-restarts.md'
    }
    tags: allTags
  }
}

// Sev2: p95 of API response time, > 2000 ms over 10 minutes.
module apiLatency 'modules/log-alert.bicep' = {
  name: 'alert-api-latency-p95'
  params: {
    name: 'petanque-api-latency-p95'
    alertDescription: '95th percentile of API response time, in milliseconds.'
    location: location
    scope: platformAppInsightsId
    query: replace(loadTextContent('queries/api-latency-p95.kql'), '{apiPathPrefix}', apiPathPrefix)
    measureColumn: 'P95Ms'
    operator: 'GreaterThan'
    threshold: 2000
    severity: 2
    windowSize: 'PT10M'
    evaluationFrequency: 'PT5M'
    actionGroupId: actionGroup.id
    customProperties: {
      incidentSeverity: 'sev2'
      ruleKey: 'api-latency-p95'
      runbook: '${runbookBaseUrl}/docs/engineering/operations/runbooks/api-latency-p95.md'
    }
    tags: allTags
  }
}

// Sev2: share of Stripe webhook deliveries we failed, > 5 % over 15 minutes. Stripe retries for days, so a short
// burst costs nothing; a quarter of an hour means confirmations pile up and players start to pay twice.
module stripeWebhookErrors 'modules/log-alert.bicep' = {
  name: 'alert-stripe-webhook-error-rate'
  params: {
    name: 'petanque-stripe-webhook-error-rate'
    alertDescription: 'Share of Stripe webhook deliveries our API failed to process, in percent.'
    location: location
    scope: platformAppInsightsId
    query: replace(loadTextContent('queries/stripe-webhook-error-rate.kql'), '{stripeWebhookPath}', stripeWebhookPath)
    measureColumn: 'FailedPercent'
    operator: 'GreaterThan'
    threshold: 5
    severity: 2
    windowSize: 'PT15M'
    evaluationFrequency: 'PT5M'
    actionGroupId: actionGroup.id
    customProperties: {
      incidentSeverity: 'sev2'
      ruleKey: 'stripe-webhook-error-rate'
      runbook: '${runbookBaseUrl}/docs/engineering/operations/runbooks/stripe-webhook-error-rate.md'
    }
    tags: allTags
  }
}

output actionGroupId string = actionGroup.id
