#!/usr/bin/env bash
# Deploy monitoring.bicep (the action group and the six alert rules) to one environment. See README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/deploy-lib.sh
source "$here/deploy-lib.sh"

usage() {
  cat <<'USAGE'
Usage: deploy-monitoring.sh --env dev|prod [options]

Deploys infrastructure/monitoring.bicep with monitoring.<env>.bicepparam: az deployment group what-if, a
confirmation, then az deployment group create. Safe to re-run.

Options:
  -e, --env ENV               dev or prod (required)
  -g, --resource-group NAME   target resource group (default: rg-petanque-incidents-<env>)
  -l, --location REGION       create the resource group in REGION if needed
  -f, --function-app NAME     build ALERT_WEBHOOK_URI from this function app and its function key "alerts"
                              (created once if missing, never rotated)
      --function-app-group RG resource group of that function app (default: the target resource group)
  -y, --yes                   do not ask before deploying (for pipelines)
      --dry-run               print the az commands instead of running them (az not needed)
  -h, --help                  this text

Environment (read by monitoring.<env>.bicepparam):
  ONCALL_EMAIL, RUNBOOK_BASE_URL, PLATFORM_APP_INSIGHTS_ID, PLATFORM_COSMOS_ACCOUNT_ID, PLATFORM_ACS_ID,
  PLATFORM_CONTAINER_APP_ID, PLATFORM_CONTAINER_APPS_WORKSPACE_ID, ALERT_WEBHOOK_URI (unless --function-app);
  secure webhook (the default): WEBHOOK_AAD_OBJECT_ID, WEBHOOK_AAD_IDENTIFIER_URI;
  WEBHOOK_USE_AAD=false falls back to the function key alone
USAGE
}

function_name="azure_monitor_alert" # the webhook's function in function_app.py
key_name="alerts"

# Sets ALERT_WEBHOOK_URI from the Function App: the keyless secure-webhook route by default (Azure Monitor's Entra ID
# token is the credential), or, with WEBHOOK_USE_AAD=false, the key route with the function's own key in the URL.
webhook_uri_from_app() {
  local app="$1" app_group="$2" host key
  if ((dry_run)); then
    run az functionapp show --resource-group "$app_group" --name "$app" --query defaultHostName --output tsv
    if [[ "${WEBHOOK_USE_AAD:-true}" != "false" ]]; then
      export ALERT_WEBHOOK_URI="https://<host>/api/v1/alerts/azure-monitor/secure"
      return 0
    fi
    run az functionapp function keys list --resource-group "$app_group" --name "$app" \
      --function-name "$function_name" --query "$key_name" --output tsv
    export ALERT_WEBHOOK_URI="https://<host>/api/v1/alerts/azure-monitor?code=<key>"
    return 0
  fi
  host="$(az functionapp show --resource-group "$app_group" --name "$app" --query defaultHostName --output tsv)"
  [[ -n "$host" ]] || die "could not read the host name of $app"
  if [[ "${WEBHOOK_USE_AAD:-true}" != "false" ]]; then
    export ALERT_WEBHOOK_URI="https://$host/api/v1/alerts/azure-monitor/secure"
    return 0
  fi
  key="$(az functionapp function keys list --resource-group "$app_group" --name "$app" \
    --function-name "$function_name" --query "$key_name" --output tsv)"
  if [[ -z "$key" ]]; then
    note "Creating the function key '$key_name' for $function_name"
    key="$(az functionapp function keys set --resource-group "$app_group" --name "$app" \
      --function-name "$function_name" --key-name "$key_name" --query value --output tsv)"
  fi
  [[ -n "$key" ]] || die "could not read the function key of $app"
  export ALERT_WEBHOOK_URI="https://$host/api/v1/alerts/azure-monitor?code=$key"
}

main() {
  parse_common_args "$@"
  local app="" app_group="" i=0
  while ((i < ${#rest[@]})); do
    case "${rest[i]}" in
      -f | --function-app) app="$(value_of "${rest[@]:i}")"; i=$((i + 1)) ;;
      --function-app-group) app_group="$(value_of "${rest[@]:i}")"; i=$((i + 1)) ;;
      *) die "unknown option '${rest[i]}'; see --help" ;;
    esac
    i=$((i + 1))
  done

  require_az
  if [[ -n "$app" ]]; then
    webhook_uri_from_app "$app" "${app_group:-$group}"
  fi
  require_env ONCALL_EMAIL RUNBOOK_BASE_URL ALERT_WEBHOOK_URI PLATFORM_APP_INSIGHTS_ID \
    PLATFORM_COSMOS_ACCOUNT_ID PLATFORM_ACS_ID PLATFORM_CONTAINER_APP_ID PLATFORM_CONTAINER_APPS_WORKSPACE_ID
  if [[ "${WEBHOOK_USE_AAD:-true}" != "false" ]]; then
    require_env WEBHOOK_AAD_OBJECT_ID WEBHOOK_AAD_IDENTIFIER_URI
  fi
  ensure_group
  deploy "petanque-monitoring-$environment" "$here/monitoring.bicep" "$here/monitoring.$environment.bicepparam"
  ((dry_run)) || note "Done. Send a test notification: see infrastructure/README.md, 'Verify'."
}

main "$@"
