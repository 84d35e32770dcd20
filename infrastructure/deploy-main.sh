#!/usr/bin/env bash
# Deploy main.bicep (the incident-response app's Azure resources) to one environment. See README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/deploy-lib.sh
source "$here/deploy-lib.sh"

usage() {
  cat <<'USAGE'
Usage: deploy-main.sh --env dev|prod [options]

Deploys infrastructure/main.bicep with main.<env>.bicepparam (az deployment group what-if, a confirmation,
az deployment group create), then switches on the status site's static website, which ARM cannot do.
Safe to re-run. Publish the code afterwards: func azure functionapp publish <functionAppName> --python

Options:
  -e, --env ENV               dev or prod (required)
  -g, --resource-group NAME   target resource group (default: rg-petanque-incidents-<env>)
  -l, --location REGION       create the resource group in REGION if needed
  -y, --yes                   do not ask before deploying (for pipelines)
      --dry-run               print the az commands instead of running them (az not needed)
  -h, --help                  this text

Environment (read by main.<env>.bicepparam):
  AUTH_AUDIENCE; ALERTS_AAD_AUDIENCE (secure webhook, the default; WEBHOOK_USE_AAD=false falls back to the
  function key alone); optional SLACK_WEBHOOK_URL and SLACK_SIGNING_SECRET (the Slack app's, for its buttons; both
  stored in the app's Key Vault, never in an app setting) and ACS_SMS_FROM (the number bought for SMS pages, see
  README.md)
  ONCALL_LINK_SECRET (required, at least 32 characters; stored in the app's Key Vault): signs the acknowledge links
  in pages and the calendar subscription addresses. Make it once and keep it, and give the same value on every
  deployment: a new value revokes every link and calendar address (that is also how to revoke them). Make one with
    python3 -c 'import secrets; print(secrets.token_urlsafe(32))'
USAGE
}

# ONCALL_LINK_SECRET is never made here: a new value on each deployment would revoke every calendar address.
require_link_secret() {
  local secret="${ONCALL_LINK_SECRET:-}" problem
  if [[ -z "$secret" ]]; then
    problem="ONCALL_LINK_SECRET is not set"
  elif ((${#secret} < 32)); then
    problem="ONCALL_LINK_SECRET is shorter than 32 characters"
  else
    return 0
  fi
  problem+=": make one once with python3 -c 'import secrets; print(secrets.token_urlsafe(32))', keep it, and give the same value on every deployment"
  if ((dry_run)); then
    note "warning: $problem (a real run stops here)"
  else
    die "$problem"
  fi
}

main() {
  parse_common_args "$@"
  ((${#rest[@]} == 0)) || die "unknown option '${rest[0]}'; see --help"

  require_az
  require_env AUTH_AUDIENCE
  require_link_secret
  if [[ "${WEBHOOK_USE_AAD:-true}" != "false" ]]; then
    require_env ALERTS_AAD_AUDIENCE
  fi
  ensure_group
  local name="petanque-incidents-$environment" site_account
  deploy "$name" "$here/main.bicep" "$here/main.$environment.bicepparam"

  if ((dry_run)); then
    site_account="STATUS_SITE_ACCOUNT_NAME" # known only after create
    run az deployment group show --resource-group "$group" --name "$name" \
      --query properties.outputs.statusSiteAccountName.value --output tsv
  else
    site_account="$(az deployment group show --resource-group "$group" --name "$name" \
      --query properties.outputs.statusSiteAccountName.value --output tsv)"
  fi
  run az storage blob service-properties update --account-name "$site_account" --auth-mode login \
    --static-website --index-document index.html --404-document 404.html --output none
  ((dry_run)) || note "Done. Outputs: az deployment group show -g $group -n $name --query properties.outputs"
}

main "$@"
