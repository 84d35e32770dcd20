// The app's Key Vault (Azure RBAC, no access policies): the secrets the app reads, as Key Vault references in its app
// settings, resolved with the Function App's identity, which gets Key Vault Secrets User on this vault and nothing
// more. https://learn.microsoft.com/azure/app-service/app-service-key-vault-references#grant-your-app-access-to-a-key-vault
// Key Vault Secrets User is 4633458b-17de-408a-b874-0445c86b69e6:
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security#key-vault-secrets-user

param name string
param location string

@description('Principal id of the Function App\'s system-assigned identity: may read secret values.')
param readerPrincipalId string

@description('Secret name -> value, for the secrets that are set (leave an unset optional secret out).')
@secure()
param secrets object = {}
param tags object = {}

var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The Function App has no virtual network. Flex Consumption resolves Key Vault references in app settings, but
    // not from a network-restricted vault: https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations
    publicNetworkAccess: 'Enabled'
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for item in items(secrets): {
  parent: vault
  name: item.key
  properties: {
    value: item.value
  }
}]

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, readerPrincipalId, secretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
