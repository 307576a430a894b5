// CreditFunctions in Azure: the isolated-worker Functions app with Durable Functions on a Flex Consumption plan, its
// storage account reached by identity only (Shared Key authorization is off, so no account key exists to leak), a
// user-assigned managed identity holding every data-plane role the host, the Durable task hub and the app need,
// Application Insights with Entra ID ingestion, and a Key Vault for the secrets key.

@description('Prefix of every resource name: 3-11 lower-case letters and digits, starting with a letter.')
@minLength(3)
@maxLength(11)
param baseName string = 'creditfn'

@description('Region of every resource; it must offer the Flex Consumption plan.')
param location string = resourceGroup().location

@description('Most instances the app scales out to (Flex Consumption allows 1 to 1000).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('The 32-byte base64 key that encrypts teams\' own provider keys and webhook secrets (openssl rand -base64 32). Give it on the first deployment only: it is stored as a Key Vault secret, and a later value would replace it and leave everything encrypted with the old one unreadable. Empty: the secret is left as it is.')
@secure()
param secretsKey string = ''

@description('Base URL of the CRM API that CRM exports push to (its key is the CREDITFUNCTIONS_CRM_KEY setting); empty: CRM exports answer 503.')
param crmUrl string = ''

var suffix = uniqueString(resourceGroup().id, baseName)
var storageName = take('${baseName}${suffix}', 24)
var vaultName = take('${baseName}-kv-${suffix}', 24)
var appName = '${baseName}-func-${suffix}'
var deploymentContainerName = 'app-package'
var secretsKeyName = 'creditfunctions-secrets-key'

// The app's own tables (the Durable task hub and the host create theirs at start-up).
var tables = {
  teams: 'teams'
  ledger: 'ledger'
  enrichment: 'enrichment'
  csvJobs: 'csvjobs'
  inbound: 'inbound'
  tracking: 'tracking'
}

// The CSV jobs' containers: uploads (written by the customer through a user delegation SAS), results, working data;
// the list exports' files (read through a user delegation SAS) and tracking files (uploaded like CSV jobs').
var csvContainers = [
  'csv-uploads'
  'csv-results'
  'csv-work'
  'list-exports'
  'tracking-uploads'
]

// Built-in role definitions.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}

// A user-assigned identity, so that it and all its role assignments exist before the app does: the host's first start,
// the deployment package download and the Key Vault reference already have their access (a system-assigned identity
// exists only once the app is created, so its roles would be granted after the host has started without them).
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: '${baseName}-id-${suffix}'
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' = {
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
    allowCrossTenantReplication: false
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-09-01' = {
  parent: storage
  name: 'default'
}

// Flex Consumption runs the package it finds here; the app's identity reads it.
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' = {
  parent: blobService
  name: deploymentContainerName
}

resource csvJobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' = [
  for name in csvContainers: {
    parent: blobService
    name: name
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2026-09-01' = {
  parent: storage
  name: 'default'
}

resource appTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2026-09-01' = [
  for table in items(tables): {
    parent: tableService
    name: table.value
  }
]

// The host's state (blob leases, timer schedules), the Durable task hub (control and work-item queues, history and
// instance tables, large-message and lease containers) and the app's tables, queues and blobs: the three data roles
// the Durable Functions documentation lists for an identity-based Azure Storage connection.
resource storageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageQueueDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2026-03-01' = {
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
    // Only Entra ID-authenticated telemetry is accepted: the connection string's key alone cannot send any.
    DisableLocalAuth: true
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' = {
  name: vaultName
  location: location
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The key cannot be purged before its retention ends: losing it makes every stored team secret unreadable.
    enablePurgeProtection: true
  }
}

resource secretsKeySecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = if (!empty(secretsKey)) {
  parent: vault
  name: secretsKeyName
  properties: {
    value: secretsKey
    contentType: 'base64, 32 bytes (AES-GCM key)'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
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

resource app 'Microsoft.Web/sites@2025-03-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        // The host, the Durable task hub (host.json's connectionName) and the app all read this connection:
        // identity-based, with the user-assigned identity named by its client id. No key, no connection string.
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: insights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
        }
        {
          name: 'CREDITFUNCTIONS_TEAMS_TABLE'
          value: tables.teams
        }
        {
          name: 'CREDITFUNCTIONS_LEDGER_TABLE'
          value: tables.ledger
        }
        {
          name: 'CREDITFUNCTIONS_ENRICHMENT_TABLE'
          value: tables.enrichment
        }
        {
          // The low-balance alert trigger names its queue by this setting.
          name: 'CREDITFUNCTIONS_ALERTS_QUEUE'
          value: 'low-balance-alerts'
        }
        {
          name: 'CREDITFUNCTIONS_CSVJOBS_TABLE'
          value: tables.csvJobs
        }
        {
          name: 'CREDITFUNCTIONS_INBOUND_TABLE'
          value: tables.inbound
        }
        {
          // The form-submission trigger names its queue by this setting.
          name: 'CREDITFUNCTIONS_FORMS_QUEUE'
          value: 'form-submissions'
        }
        {
          // The visitor-events trigger names its queue by this setting.
          name: 'CREDITFUNCTIONS_VISITORS_QUEUE'
          value: 'visitor-events'
        }
        {
          name: 'CREDITFUNCTIONS_CRM_URL'
          value: crmUrl
        }
        {
          name: 'CREDITFUNCTIONS_TRACKING_TABLE'
          value: tables.tracking
        }
        {
          // The tracking-scan timer names its schedule by this setting (NCRONTAB, UTC): daily at 03:00.
          name: 'CREDITFUNCTIONS_TRACKING_SCAN_SCHEDULE'
          value: '0 0 3 * * *'
        }
        {
          name: 'CREDITFUNCTIONS_DEMO_SEED'
          value: 'false'
        }
        {
          // How long a usage page sign-in lasts (minutes); revoking the key ends its sessions sooner.
          name: 'CREDITFUNCTIONS_SESSION_MINUTES'
          value: '60'
        }
        {
          // Resolved by the platform with keyVaultReferenceIdentity; versionless, so it follows the latest version.
          name: 'CREDITFUNCTIONS_SECRETS_KEY'
          value: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${secretsKeyName})'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer.name}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
  }
  // Nothing in the app refers to these, but the host must not start before its identity may use the storage, the
  // telemetry and the secret.
  dependsOn: [
    storageBlobDataOwner
    storageQueueDataContributor
    storageTableDataContributor
    metricsPublisher
    secretsUser
    secretsKeySecret
    appTables
  ]
}

@description('The function app\'s name, for the package deployment.')
output functionAppName string = app.name

@description('The function app\'s default host name: the API is at https://<host name>/api.')
output defaultHostName string = app.properties.defaultHostName

@description('The storage account\'s name.')
output storageAccountName string = storage.name

@description('The Key Vault\'s name.')
output keyVaultName string = vault.name
