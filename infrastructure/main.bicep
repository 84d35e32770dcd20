// The incident-response app itself: Function App (Flex Consumption, Python 3.11), Cosmos DB (serverless), the
// status site's storage, Application Insights on a Log Analytics workspace, a Key Vault for the app's secrets. One
// system-assigned identity, least roles: Cosmos DB Built-in Data Contributor on the `incidents` database, Storage Blob
// Data Contributor on `$web`, Key Vault Secrets User on the vault, Communication and Email Service Owner on the
// Communication Services resource that sends pages by email (and SMS, once a number is bought), and what the Functions
// host needs on its own storage account. No keys and no secret values in the app settings: secrets are Key Vault
// references.

@description('Label of this environment (dev, prod): lower-case letters and digits, part of every resource name.')
@minLength(2)
@maxLength(8)
param environmentName string

param location string = resourceGroup().location

@description('Entra ID tenant whose tokens the admin API accepts (AUTH_TENANT_ID).')
param authTenantId string = tenant().tenantId

@description('The API app registration\'s application (client) ID: the `aud` of its v2 access tokens (AUTH_AUDIENCE).')
param authAudience string

@description('App role that admin routes require (AUTH_ADMIN_ROLE).')
param authAdminRole string = 'platform-admin'

@description('Secure webhook (the default path): identifier URI the action group asks tokens for (ALERTS_AAD_AUDIENCE). Empty: the function key alone (fallback).')
param alertsAadAudience string = ''

@description('Slack incoming webhook URL. Stored as a secret in the app\'s Key Vault; the app setting is a reference. Empty: off.')
@secure()
param slackWebhookUrl string = ''

@description('Signs acknowledge links in pages and calendar subscription addresses (ONCALL_LINK_SECRET, at least 32 characters). Stored as a secret in the app\'s Key Vault; the app setting is a reference. Keep the same value across deployments: a new one revokes every link and calendar address. Empty: no links.')
@secure()
param oncallLinkSecret string = ''

@description('The Slack app\'s signing secret (SLACK_SIGNING_SECRET): turns on the buttons in Slack messages and verifies each tap sent to /api/v1/slack/actions. Stored as a secret in the app\'s Key Vault; the app setting is a reference. Empty: no buttons.')
@secure()
param slackSigningSecret string = ''

@description('The phone number (E.164) SMS pages are sent from, bought in the portal for the Communication Services resource (ACS_SMS_FROM; see README.md). Empty: no SMS pages.')
param acsSmsFrom string = ''

@description('Where visitors find the status site, e.g. https://status.petanque.life. Empty: the static website URL.')
param statusSiteBaseUrl string = ''

@description('Flex Consumption scale-out limit.')
param maximumInstanceCount int = 40

param tags object = {}

var suffix = take(uniqueString(resourceGroup().id, environmentName), 8)
var allTags = union(tags, { environment: environmentName, app: 'petanque-incidents' })
var functionAppName = 'func-petanque-incidents-${environmentName}-${suffix}'
var cosmosDatabase = 'incidents'
var cosmosContainer = 'incidents'
var cosmosOncallContainer = 'oncall'
var cosmosMaintenanceContainer = 'maintenance'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-petanque-incidents-${environmentName}'
  location: location
  tags: allTags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-petanque-incidents-${environmentName}'
  location: location
  tags: allTags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true // telemetry is sent with the app's identity
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    name: functionAppName
    planName: 'plan-petanque-incidents-${environmentName}'
    hostStorageName: 'stpetfn${environmentName}${suffix}'
    location: location
    appInsightsName: appInsights.name
    maximumInstanceCount: maximumInstanceCount
    tags: allTags
  }
}

module functionAppRoles 'modules/function-app-roles.bicep' = {
  name: 'function-app-roles'
  params: {
    hostStorageName: functionApp.outputs.hostStorageName
    appInsightsName: appInsights.name
    principalId: functionApp.outputs.principalId
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  params: {
    name: 'kvpet${environmentName}${suffix}' // at most 24 characters
    location: location
    readerPrincipalId: functionApp.outputs.principalId
    secrets: union( // vault secret name -> value
      empty(slackWebhookUrl) ? {} : { 'slack-webhook-url': slackWebhookUrl },
      empty(oncallLinkSecret) ? {} : { 'oncall-link-secret': oncallLinkSecret },
      empty(slackSigningSecret) ? {} : { 'slack-signing-secret': slackSigningSecret }
    )
    tags: allTags
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    accountName: 'cosmos-petanque-incidents-${environmentName}-${suffix}'
    location: location
    databaseName: cosmosDatabase
    containerName: cosmosContainer
    oncallContainerName: cosmosOncallContainer
    maintenanceContainerName: cosmosMaintenanceContainer
    dataContributorPrincipalId: functionApp.outputs.principalId
    tags: allTags
  }
}

module statusSite 'modules/status-site.bicep' = {
  name: 'status-site'
  params: {
    accountName: 'stpetweb${environmentName}${suffix}'
    location: location
    writerPrincipalId: functionApp.outputs.principalId
    tags: allTags
  }
}

module communication 'modules/communication.bicep' = {
  name: 'communication'
  params: {
    name: 'acs-petanque-incidents-${environmentName}-${suffix}'
    emailServiceName: 'ecs-petanque-incidents-${environmentName}-${suffix}'
    senderPrincipalId: functionApp.outputs.principalId
    tags: allTags
  }
}

// Names as in incidents/settings.py. Absent on purpose: COSMOS_KEY and SITE_STORAGE_CONNECTION_STRING (the managed
// identity instead), INCIDENTS_DEV_SIGNING_KEY and INCIDENTS_FUNCTION_KEY (local development only). Secrets are in
// secretSettings, as Key Vault references the platform resolves with the app's identity.
var appSettings = {
  INCIDENTS_STORE: 'cosmos'
  COSMOS_ENDPOINT: cosmos.outputs.endpoint
  COSMOS_DATABASE: cosmosDatabase
  COSMOS_CONTAINER: cosmosContainer
  COSMOS_ONCALL_CONTAINER: cosmosOncallContainer
  COSMOS_MAINTENANCE_CONTAINER: cosmosMaintenanceContainer
  AUTH_TENANT_ID: authTenantId
  AUTH_AUDIENCE: authAudience
  AUTH_ADMIN_ROLE: authAdminRole
  INCIDENTS_PUBLIC_BASE_URL: 'https://${functionApp.outputs.defaultHostName}'
  SITE_SINK: 'blob'
  SITE_STORAGE_ACCOUNT_URL: statusSite.outputs.blobEndpoint
  SITE_CONTAINER: '$web'
  SITE_PUBLISH_SCHEDULE: '0 * * * * *' // NCRONTAB: republish every minute (also right after each public change)
  ONCALL_SWEEP_SCHEDULE: '*/30 * * * * *' // NCRONTAB: escalate unacknowledged pages, every 30 seconds
  ONCALL_DAILY_SCHEDULE: '0 0 8 * * *' // NCRONTAB: the on-call digest (gaps, next shifts) in Slack, 08:00 UTC
  SITE_BASE_URL: empty(statusSiteBaseUrl) ? statusSite.outputs.webEndpoint : statusSiteBaseUrl
  ACS_ENDPOINT: communication.outputs.endpoint // pages by email, with the app's identity; ACS_SMS_FROM: see README.md
  ACS_EMAIL_SENDER: communication.outputs.senderAddress
}
var optionalSettings = union(
  empty(alertsAadAudience) ? {} : { ALERTS_AAD_AUDIENCE: alertsAadAudience },
  empty(acsSmsFrom) ? {} : { ACS_SMS_FROM: acsSmsFrom }
)
// One conditional per secret, present when its vault secret is (keyVault `secrets` above).
var secretSettings = union(
  empty(slackWebhookUrl) ? {} : {
    SLACK_WEBHOOK_URL: '@Microsoft.KeyVault(VaultName=${keyVault.outputs.name};SecretName=slack-webhook-url)'
  },
  empty(oncallLinkSecret) ? {} : {
    ONCALL_LINK_SECRET: '@Microsoft.KeyVault(VaultName=${keyVault.outputs.name};SecretName=oncall-link-secret)'
  },
  empty(slackSigningSecret) ? {} : {
    SLACK_SIGNING_SECRET: '@Microsoft.KeyVault(VaultName=${keyVault.outputs.name};SecretName=slack-signing-secret)'
  }
)

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// Replaces every app setting on each deployment: settings live here, not in the portal.
resource siteSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(functionApp.outputs.hostSettings, appSettings, optionalSettings, secretSettings)
}

output functionAppName string = functionApp.outputs.name
output alertWebhookUrlWithoutKey string = 'https://${functionApp.outputs.defaultHostName}/api/v1/alerts/azure-monitor'
output alertSecureWebhookUrl string = 'https://${functionApp.outputs.defaultHostName}/api/v1/alerts/azure-monitor/secure'
output cosmosEndpoint string = cosmos.outputs.endpoint
output statusSiteAccountName string = statusSite.outputs.accountName
output statusSiteUrl string = statusSite.outputs.webEndpoint
output appInsightsId string = appInsights.id
output keyVaultName string = keyVault.outputs.name
output communicationServiceName string = communication.outputs.name
