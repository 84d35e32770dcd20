// The public status site: a storage account whose static website serves the `$web` container. The app's identity
// may write blobs in `$web` and in the private lock container `publish-locks`, nowhere else. ARM cannot switch the
// static website on (it is a data-plane setting): deploy-main.sh does that with
// `az storage blob service-properties update --static-website`.

param accountName string
param location string

@description('Principal (the function app identity) given Storage Blob Data Contributor on the $web container.')
param writerPrincipalId string
param tags object = {}

// Built-in role, the same id in every tenant: Storage Blob Data Contributor.
var blobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false // the static website endpoint serves $web without it
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource web 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: '$web'
  properties: {
    publicAccess: 'None'
  }
}

resource webWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(web.id, writerPrincipalId, blobDataContributorRoleId)
  scope: web
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRoleId)
    principalId: writerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The publishers' lease lock (incidents/site/sink_blob.py LOCK_CONTAINER): private, never in the public $web.
resource locks 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'publish-locks'
  properties: {
    publicAccess: 'None'
  }
}

resource locksWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(locks.id, writerPrincipalId, blobDataContributorRoleId)
  scope: locks
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRoleId)
    principalId: writerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output accountName string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output webEndpoint string = account.properties.primaryEndpoints.web
