// Development. Tenant-specific values come from the environment, never from this file: see README.md.
using 'main.bicep'

param environmentName = 'dev'
param authAudience = readEnvironmentVariable('AUTH_AUDIENCE')
param alertsAadAudience = readEnvironmentVariable('ALERTS_AAD_AUDIENCE', '')
param slackWebhookUrl = readEnvironmentVariable('SLACK_WEBHOOK_URL', '')
param oncallLinkSecret = readEnvironmentVariable('ONCALL_LINK_SECRET', '')
param slackSigningSecret = readEnvironmentVariable('SLACK_SIGNING_SECRET', '')
param acsSmsFrom = readEnvironmentVariable('ACS_SMS_FROM', '')
param maximumInstanceCount = 10
param tags = {
  costCenter: 'platform'
}
