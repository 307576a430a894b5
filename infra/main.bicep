// CreditFunctions in Azure: a storage account reached by identity only, a Flex Consumption function app running the
// custom handler with a system-assigned managed identity, its data-plane roles on the account, and Application Insights.
// No account key is in any app setting: the account refuses Shared Key authorization altogether.

@description('Prefix of every resource name: 3-11 lower-case letters and digits.')
@minLength(3)
@maxLength(11)
param baseName string

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Tables the app uses (it also creates missing ones itself).')
param tables array = [
  'teams'
  'ledger'
  'enrichment'
  '${durableHub}Instances'
]

@description('Queues the app\'s queue triggers read (each with its -poison queue).')
param queues array = [
  '${durableHub}-work'
]

@description('Blob containers the app uses, besides the deployment package container.')
param containers array = [
  '${durableHub}-payloads'
]

@description('The durable task hub (lower-case letters and digits): names the runtime\'s table, queues and container.')
param durableHub string = 'creditfunctions'

@description('Key Vault reference (or value) of the 32-byte base64 key that encrypts teams\' own provider keys and webhook secrets, e.g. @Microsoft.KeyVault(SecretUri=...). Empty: teams can only reference settings.')
@secure()
param secretsKey string = ''

@description('Most instances the app scales out to.')
param maximumInstanceCount int = 40

@description('Memory of each instance, in MB: 2048 or 4096.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

var suffix = uniqueString(resourceGroup().id, baseName)
var storageName = take('${baseName}${suffix}', 24)
var appName = '${baseName}-func-${suffix}'
var deploymentContainer = 'app-package'

// Data-plane roles (built-in role definition ids).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
}

resource appContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for name in containers: {
  parent: blobService
  name: name
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource appQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for name in queues: {
  parent: queueService
  name: name
}]

resource poisonQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for name in queues: {
  parent: queueService
  name: '${name}-poison'
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource appTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for name in tables: {
  parent: tableService
  name: name
}]

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${baseName}-logs-${suffix}'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${baseName}-insights-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${baseName}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        // The host's own storage and the app's (the app reads the same settings): identity-based, no key.
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: insights.properties.ConnectionString
        }
        {
          // Application Insights accepts only Entra ID-authenticated telemetry (DisableLocalAuth).
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'Authorization=AAD'
        }
        {
          name: 'CREDITFUNCTIONS_TEAMS_TABLE'
          value: 'teams'
        }
        {
          name: 'CREDITFUNCTIONS_LEDGER_TABLE'
          value: 'ledger'
        }
        {
          name: 'CREDITFUNCTIONS_DEMO_SEED'
          value: 'false'
        }
        {
          name: 'CREDITFUNCTIONS_DURABLE_HUB'
          value: durableHub
        }
        {
          name: 'CREDITFUNCTIONS_ENRICHMENT_TABLE'
          value: 'enrichment'
        }
        {
          name: 'CREDITFUNCTIONS_SECRETS_KEY'
          value: secretsKey
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      // A custom handler: the host runs host.json's customHandler executable (FUNCTIONS_WORKER_RUNTIME=Custom).
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]: {
  scope: storage
  name: guid(storage.id, app.id, role)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}]

resource insightsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, app.id, roles.monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

@description('The function app\'s name, for the zip deployment.')
output functionAppName string = app.name

@description('The API\'s base URL.')
output apiBaseUrl string = 'https://${app.properties.defaultHostName}/api'

@description('The storage account\'s name.')
output storageAccountName string = storage.name
