// What the Function App's identity needs on the host's own resources: the host storage account (AzureWebJobsStorage
// with the identity) and Application Insights (telemetry with the identity, local auth off).
//
// Host storage, per https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
// for the triggers in use (HTTP and timer): Storage Blob Data Owner (keys, coordination, the timers' blob locks) and
// Storage Table Data Contributor (the host's diagnostic events, kept in tables). No queue role: only the blob trigger
// and Durable Functions need one, and neither is used. tests/integration/test_infrastructure.py keeps this list.
//
// Role assignment names: guid(scope, principal, role), per
// https://learn.microsoft.com/azure/azure-resource-manager/bicep/scenarios-rbac#name: a new identity gets new names
// instead of colliding with the assignments of the one it replaces.

param hostStorageName string
param appInsightsName string

@description('Principal id of the Function App\'s system-assigned identity.')
param principalId string

// Built-in roles, the same ids in every tenant.
var blobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var tableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var metricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, principalId, blobDataOwnerRoleId)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataOwnerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource hostTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, principalId, tableDataContributorRoleId)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, metricsPublisherRoleId)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisherRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
