// Azure Communication Services for pages by email and SMS (incidents/notify/acs.py): the Communication Services
// resource, an Email Communication Service with an Azure-managed domain (DoNotReply@<id>.azurecomm.net, no DNS to set
// up; Microsoft limits it to a few emails a minute, enough for pages), the domain linked to the resource, and the role
// that lets the Function App's identity send through it. The app signs in with that identity: no connection string.
//
// Phone numbers cannot be bought with Bicep (there is no ARM resource for them): buy one in the portal (the resource's
// Phone numbers page) and set ACS_SMS_FROM, as infrastructure/README.md says. Until then the app sends no SMS.
//
// Types and properties: Microsoft.Communication 2023-04-01 (https://learn.microsoft.com/azure/templates/
// microsoft.communication/communicationservices). An Azure-managed domain is named AzureManagedDomain
// (https://learn.microsoft.com/azure/communication-services/quickstarts/email/add-azure-managed-domains); a domain can
// be linked only to a resource with the same data location
// (https://learn.microsoft.com/azure/communication-services/quickstarts/email/connect-email-communication-resource).

param name string
param emailServiceName string

@description('Where ACS keeps its data at rest, for the resource and its email service alike (they must match).')
param dataLocation string = 'Europe'

@description('Principal id of the Function App\'s system-assigned identity, which sends the pages.')
param senderPrincipalId string

param tags object = {}

// Communication and Email Service Owner: the built-in role Microsoft documents for sending ACS email with an Entra ID
// identity (https://learn.microsoft.com/azure/communication-services/quickstarts/email/send-email-smtp/
// smtp-authentication, "Assign the built-in Communication and Email Service Owner role"). ACS has no narrower
// send-only built-in role; the assignment is scoped to this resource alone.
var senderRoleId = '09976791-48a7-449e-bb21-39d1a415f350'

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource emailDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled' // no rewritten links: the acknowledge link must arrive as it was sent
  }
}

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      emailDomain.id
    ]
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, senderPrincipalId, senderRoleId)
  scope: communication
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', senderRoleId)
    principalId: senderPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = 'https://${communication.properties.hostName}'
output senderAddress string = 'DoNotReply@${emailDomain.properties.mailFromSenderDomain}'
output name string = communication.name
