// Production alerts. Addresses and resource ids come from the environment, never from this file: see README.md.
using 'monitoring.bicep'

param environmentName = 'prod'
param emailReceivers = [
  {
    name: 'on-call'
    emailAddress: readEnvironmentVariable('ONCALL_EMAIL')
  }
]
param alertWebhookUri = readEnvironmentVariable('ALERT_WEBHOOK_URI')
param useAadAuth = readEnvironmentVariable('WEBHOOK_USE_AAD', 'true') != 'false' // secure webhook unless turned off
param webhookObjectId = readEnvironmentVariable('WEBHOOK_AAD_OBJECT_ID', '')
param webhookIdentifierUri = readEnvironmentVariable('WEBHOOK_AAD_IDENTIFIER_URI', '')
param runbookBaseUrl = readEnvironmentVariable('RUNBOOK_BASE_URL')
param platformAppInsightsId = readEnvironmentVariable('PLATFORM_APP_INSIGHTS_ID')
param cosmosAccountId = readEnvironmentVariable('PLATFORM_COSMOS_ACCOUNT_ID')
param communicationServiceId = readEnvironmentVariable('PLATFORM_ACS_ID')
param containerAppId = readEnvironmentVariable('PLATFORM_CONTAINER_APP_ID')
param containerAppsWorkspaceId = readEnvironmentVariable('PLATFORM_CONTAINER_APPS_WORKSPACE_ID')
