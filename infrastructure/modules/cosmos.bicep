// Cosmos DB for NoSQL, serverless, keys disabled: database `incidents`, container `incidents` (partition key /id,
// the composite indexes of incidents/stores/cosmos.py INDEXING_POLICY), container `oncall` (the on-call roster, one
// document; partition key /id), container `maintenance` (announced maintenance windows; partition key /id), and the
// app's data role on that one database.

param accountName string
param location string
param databaseName string = 'incidents'
param containerName string = 'incidents'
param oncallContainerName string = 'oncall'
param maintenanceContainerName string = 'maintenance'

@description('Principal (the function app identity) given Cosmos DB Built-in Data Contributor on the database.')
param dataContributorPrincipalId string
param tags object = {}

// Built-in role, the same id in every account: Cosmos DB Built-in Data Contributor.
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
      // The same block as incidents/stores/cosmos.py INDEXING_POLICY (tests/integration/test_infrastructure.py keeps
      // them equal). One composite index per query shape: (started_at, id) for keyset paging, and the same led by
      // each path a query filters by equality (state, source.fingerprint). Cosmos DB serves an ORDER BY from an index
      // in its own order or with every path reversed, so ascending indexes serve newest-first pages too.
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            path: '/updates/*'
          }
          {
            path: '/"_etag"/?'
          }
        ]
        compositeIndexes: [
          [
            {
              path: '/started_at'
              order: 'ascending'
            }
            {
              path: '/id'
              order: 'ascending'
            }
          ]
          [
            {
              path: '/state'
              order: 'ascending'
            }
            {
              path: '/started_at'
              order: 'ascending'
            }
            {
              path: '/id'
              order: 'ascending'
            }
          ]
          [
            {
              path: '/source/fingerprint'
              order: 'ascending'
            }
            {
              path: '/started_at'
              order: 'ascending'
            }
            {
              path: '/id'
              order: 'ascending'
            }
          ]
        ]
      }
    }
  }
}

// The on-call roster (incidents/stores/cosmos.py CosmosRosterStore): one document read by id, default indexing.
resource oncallContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: oncallContainerName
  properties: {
    resource: {
      id: oncallContainerName
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

// Maintenance windows (incidents/stores/cosmos.py CosmosMaintenanceStore): one document per window, read by id or by a
// small query on its times, default indexing.
resource maintenanceContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: maintenanceContainerName
  properties: {
    resource: {
      id: maintenanceContainerName
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}

resource dataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: account
  name: guid(account.id, databaseName, dataContributorPrincipalId, dataContributorRoleId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    principalId: dataContributorPrincipalId
    scope: '${account.id}/dbs/${database.name}'
  }
}

output endpoint string = account.properties.documentEndpoint
output accountId string = account.id
output databaseName string = database.name
output containerName string = container.name
output oncallContainerName string = oncallContainer.name
output maintenanceContainerName string = maintenanceContainer.name
