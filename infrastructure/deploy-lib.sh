# Shared by deploy-main.sh and deploy-monitoring.sh: argument parsing, the az checks, and what-if before create.
# Sourced, not run. Every az call goes through `run`, so that --dry-run prints it instead, without needing az.
# shellcheck shell=bash

environment=""
group=""
location=""
dry_run=0
assume_yes=0

die() {
  echo "error: $*" >&2
  exit 1
}

note() {
  echo "$*" >&2
}

# The value after an option: `value_of "$@"` with the option first.
value_of() {
  [[ $# -ge 2 && -n "$2" && "$2" != -* ]] || die "$1 needs a value; see --help"
  echo "$2"
}

# Parses the options both scripts share; sets `rest` to the arguments it does not know.
parse_common_args() {
  rest=()
  while (($#)); do
    case "$1" in
      -h | --help) usage; exit 0 ;;
      -e | --env) environment="$(value_of "$@")"; shift ;;
      -g | --resource-group) group="$(value_of "$@")"; shift ;;
      -l | --location) location="$(value_of "$@")"; shift ;;
      --dry-run) dry_run=1 ;;
      -y | --yes) assume_yes=1 ;;
      *) rest+=("$1") ;;
    esac
    shift
  done
  case "$environment" in
    dev | prod) ;;
    "") die "--env is required (dev or prod); see --help" ;;
    *) die "--env must be dev or prod, not '$environment'" ;;
  esac
  group="${group:-rg-petanque-incidents-$environment}"
}

# Prints the command in --dry-run mode, runs it otherwise.
run() {
  if ((dry_run)); then
    local quoted
    printf -v quoted '%q ' "$@"
    echo "${quoted% }"
  else
    "$@"
  fi
}

require_az() {
  ((dry_run)) && return 0
  command -v az >/dev/null 2>&1 \
    || die "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
  local account
  account="$(az account show --query '[name, id]' --output tsv 2>/dev/null | paste -sd ' ')" \
    || die "not signed in to Azure: run 'az login' (and 'az account set --subscription <id>')"
  note "Subscription: $account"
}

# The .bicepparam files read these with readEnvironmentVariable(): name the missing ones before az does.
require_env() {
  local missing=() name
  for name in "$@"; do
    [[ -n "${!name:-}" ]] || missing+=("$name")
  done
  ((${#missing[@]} == 0)) && return 0
  if ((dry_run)); then
    note "warning: not set (a real run stops here): ${missing[*]}"
  else
    die "set these environment variables first (see infrastructure/README.md): ${missing[*]}"
  fi
}

ensure_group() {
  if [[ -n "$location" ]]; then
    run az group create --name "$group" --location "$location" --output none
  elif ((!dry_run)) && [[ "$(az group exists --name "$group")" != "true" ]]; then
    die "resource group $group does not exist: pass --location to create it"
  fi
}

# what-if, then create, under a fixed deployment name: re-running replaces the same deployment, changing only drift.
deploy() {
  local name="$1" template="$2" params="$3"
  run az deployment group what-if --resource-group "$group" --name "$name" \
    --template-file "$template" --parameters "$params"
  if ((!dry_run && !assume_yes)); then
    [[ -t 0 ]] || die "not a terminal: pass --yes to deploy without the confirmation question"
    local answer
    read -r -p "Deploy these changes to $group? [y/N] " answer
    [[ "$answer" == [yY]* ]] || die "cancelled, nothing deployed"
  fi
  run az deployment group create --resource-group "$group" --name "$name" \
    --template-file "$template" --parameters "$params" --output none
}
