#!/usr/bin/env bash
# Creates servicehub's local AWS resources through any AWS API endpoint. Idempotent: run it as often
# as you like, it only creates what is missing (and refreshes the database-url secret).
#
#   moto server (tools/dev-services runs this after starting moto):
#       AWS_ENDPOINT_URL=http://127.0.0.1:55000 localstack/init-aws.sh
#   LocalStack: mounted into /etc/localstack/init/ready.d/ (see docker-compose.yml); there it talks
#       to http://localhost:4566 with `aws`, or with `awslocal` when `aws` is missing.
#
# It refuses to run without a local endpoint (AWS_ENDPOINT_URL or awslocal): it never touches real AWS.
#
# Creates:
#   S3 bucket        ${DOCUMENTS_BUCKET:-servicehub-documents-local}
#   SQS queue        servicehub-on-failure (on-failure destination of the Kafka triggers)
#   Secrets Manager  servicehub/jwt-signing-key (random 64-byte hex, created once, never rotated here)
#                    servicehub/database-url    (= $DATABASE_URL, updated when it differs)
#                    servicehub/bootstrap-admin-password (= $BOOTSTRAP_ADMIN_PASSWORD, default
#                    local-first-login-2026): the first admin's initial password, whose
#                    e-mail tools/local-parameters.json sets (admin@servicehub.local)
#                    servicehub/telegram-bot-token (= $TELEGRAM_BOT_TOKEN, default a fake token for the
#                    fake Bot API; created once): the bot token notify sends Telegram messages with
#                    servicehub/kafka-scram {"username":"servicehub","password":"servicehub-local-scram"}
#                    (= $KAFKA_SCRAM_USERNAME / $KAFKA_SCRAM_PASSWORD; updated when it differs): the
#                    SASL/SCRAM-SHA-512 login of a Lambda Kafka event source mapping (BASIC_AUTH /
#                    SASL_SCRAM_512_AUTH); DEV ONLY, the user of tools/dev-services' local broker
#                    servicehub/kafka-ca {"certificate":"<PEM>"} (the CA in $KAFKA_CA_LOCATION, updated
#                    when it differs; skipped when that is unset): SERVER_ROOT_CA_CERTIFICATE
#   SES (v1)         email identity noreply@servicehub.local, domain identity servicehub.local
#
# Env: AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION (default eu-central-1), DOCUMENTS_BUCKET,
#      DATABASE_URL, BOOTSTRAP_ADMIN_PASSWORD, TELEGRAM_BOT_TOKEN, AWS_CLI (the aws executable; default: `aws` on PATH),
#      KAFKA_SCRAM_USERNAME, KAFKA_SCRAM_PASSWORD, KAFKA_CA_LOCATION (a PEM file; tools/dev-services
#      passes $SERVICEHUB_RUN_DIR/kafka-tls/ca.pem).
# Output: progress on stderr; on stdout the lines `ON_FAILURE_QUEUE_URL=<url>`, `KAFKA_SCRAM_SECRET_ARN=<arn>`
# and (with KAFKA_CA_LOCATION) `KAFKA_CA_SECRET_ARN=<arn>` for callers to pick up.
set -euo pipefail

region="${AWS_REGION:-${AWS_DEFAULT_REGION:-eu-central-1}}"
bucket="${DOCUMENTS_BUCKET:-servicehub-documents-local}"
queue="servicehub-on-failure"
jwt_secret="servicehub/jwt-signing-key"
db_secret="servicehub/database-url"
admin_secret="servicehub/bootstrap-admin-password"
admin_password="${BOOTSTRAP_ADMIN_PASSWORD:-local-first-login-2026}"
telegram_secret="servicehub/telegram-bot-token"
telegram_token="${TELEGRAM_BOT_TOKEN:-123456789:local-fake-telegram-bot-token}"
database_url="${DATABASE_URL:-postgres://servicehub:servicehub@127.0.0.1:55432/servicehub}"
kafka_scram_secret="servicehub/kafka-scram"
kafka_ca_secret="servicehub/kafka-ca"
# DEV ONLY: the SCRAM user of the local broker (tools/dev-services), a published password.
kafka_scram_username="${KAFKA_SCRAM_USERNAME:-servicehub}"
kafka_scram_password="${KAFKA_SCRAM_PASSWORD:-servicehub-local-scram}"
kafka_ca_location="${KAFKA_CA_LOCATION:-}"
ses_email="noreply@servicehub.local"
ses_domain="servicehub.local"

say() { printf 'init-aws: %s\n' "$*" >&2; }

# Dummy credentials: local emulators accept anything, and this keeps the CLI from looking for real ones.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_PAGER=""
export AWS_EC2_METADATA_DISABLED=true

endpoint="${AWS_ENDPOINT_URL:-}"
if [[ -z "${endpoint}" && -d /etc/localstack ]]; then
    # Inside the LocalStack container: its gateway. (LOCALSTACK_HOST there names the host-side
    # address put into returned URLs, which is not reachable from inside the container.)
    endpoint="http://localhost:4566"
fi
if [[ -n "${endpoint}" ]] && command -v "${AWS_CLI:-aws}" >/dev/null 2>&1; then
    aws_cmd=("${AWS_CLI:-aws}" --endpoint-url "${endpoint}")
    where="${endpoint}"
elif command -v awslocal >/dev/null 2>&1; then
    # awslocal targets AWS_ENDPOINT_URL when set, else LOCALSTACK_HOST or LocalStack's default.
    [[ -z "${endpoint}" ]] || export AWS_ENDPOINT_URL="${endpoint}"
    aws_cmd=(awslocal)
    where="awslocal${endpoint:+ (${endpoint})}"
elif [[ -n "${endpoint}" ]]; then
    say "'${AWS_CLI:-aws}' not found: install the AWS CLI (pip install awscli) or set AWS_CLI"
    exit 2
else
    say "no local endpoint: set AWS_ENDPOINT_URL (e.g. http://127.0.0.1:55000) or run inside LocalStack"
    exit 2
fi

awsx() { "${aws_cmd[@]}" --region "${region}" --output text "$@"; }

say "creating resources through ${where} (region ${region})"

# S3: outside us-east-1 the location constraint is required.
if awsx s3api head-bucket --bucket "${bucket}" >/dev/null 2>&1; then
    say "s3 bucket ${bucket}: exists"
else
    if [[ "${region}" == "us-east-1" ]]; then
        awsx s3api create-bucket --bucket "${bucket}" >/dev/null
    else
        awsx s3api create-bucket --bucket "${bucket}" \
            --create-bucket-configuration "LocationConstraint=${region}" >/dev/null
    fi
    say "s3 bucket ${bucket}: created"
fi

# SQS: create-queue is idempotent as long as the attributes are the same.
queue_url="$(awsx sqs create-queue --queue-name "${queue}" \
    --attributes MessageRetentionPeriod=1209600 --query QueueUrl)"
say "sqs queue ${queue}: ${queue_url}"

# Secrets Manager.
secret_exists() { awsx secretsmanager describe-secret --secret-id "$1" >/dev/null 2>&1; }
if secret_exists "${jwt_secret}"; then
    say "secret ${jwt_secret}: exists"
else
    if command -v openssl >/dev/null 2>&1; then
        key="$(openssl rand -hex 64)"
    else
        key="$(od -An -N64 -tx1 /dev/urandom | tr -d ' \n')"
    fi
    awsx secretsmanager create-secret --name "${jwt_secret}" \
        --description "HS256 signing key for servicehub JWTs (local)" \
        --secret-string "${key}" >/dev/null
    say "secret ${jwt_secret}: created"
fi
if secret_exists "${admin_secret}"; then
    current="$(awsx secretsmanager get-secret-value --secret-id "${admin_secret}" --query SecretString)"
    if [[ "${current}" == "${admin_password}" ]]; then
        say "secret ${admin_secret}: exists"
    else
        awsx secretsmanager put-secret-value --secret-id "${admin_secret}" \
            --secret-string "${admin_password}" >/dev/null
        say "secret ${admin_secret}: updated"
    fi
else
    awsx secretsmanager create-secret --name "${admin_secret}" \
        --description "initial password of the bootstrap admin (local)" \
        --secret-string "${admin_password}" >/dev/null
    say "secret ${admin_secret}: created"
fi
if secret_exists "${telegram_secret}"; then
    say "secret ${telegram_secret}: exists"
else
    awsx secretsmanager create-secret --name "${telegram_secret}" \
        --description "Telegram bot token for notify (local)" \
        --secret-string "${telegram_token}" >/dev/null
    say "secret ${telegram_secret}: created"
fi
if secret_exists "${db_secret}"; then
    current="$(awsx secretsmanager get-secret-value --secret-id "${db_secret}" --query SecretString)"
    if [[ "${current}" == "${database_url}" ]]; then
        say "secret ${db_secret}: exists"
    else
        awsx secretsmanager put-secret-value --secret-id "${db_secret}" \
            --secret-string "${database_url}" >/dev/null
        say "secret ${db_secret}: updated"
    fi
else
    awsx secretsmanager create-secret --name "${db_secret}" \
        --description "servicehub PostgreSQL URL (local)" \
        --secret-string "${database_url}" >/dev/null
    say "secret ${db_secret}: created"
fi

# The Kafka secrets, in the JSON a Lambda Kafka event source mapping reads. One call when the secret
# is new (the AWS CLI takes ~0.4 s per call); the ARN goes to stdout.
json_string() {
    local s="$1"
    s="${s//\\/\\\\}"
    s="${s//\"/\\\"}"
    s="${s//$'\r'/}"
    s="${s//$'\t'/\\t}"
    s="${s//$'\n'/\\n}"
    printf '"%s"' "${s}"
}
# ensure_json_secret NAME DESCRIPTION VALUE: prints the secret's ARN.
ensure_json_secret() {
    local name="$1" description="$2" value="$3" arn current got
    if arn="$(awsx secretsmanager create-secret --name "${name}" --description "${description}" \
        --secret-string "${value}" --query ARN 2>/dev/null)"; then
        say "secret ${name}: created"
    else
        got="$(awsx secretsmanager get-secret-value --secret-id "${name}" --query '[ARN, SecretString]')" || return 1
        arn="${got%%$'\t'*}"
        current="${got#*$'\t'}"
        if [[ "${current}" == "${value}" ]]; then
            say "secret ${name}: exists"
        else
            awsx secretsmanager put-secret-value --secret-id "${name}" --secret-string "${value}" >/dev/null || return 1
            say "secret ${name}: updated"
        fi
    fi
    printf '%s\n' "${arn}"
}
kafka_scram_arn="$(ensure_json_secret "${kafka_scram_secret}" \
    "SASL/SCRAM-SHA-512 login for Kafka (local dev broker only)" \
    "{\"username\":$(json_string "${kafka_scram_username}"),\"password\":$(json_string "${kafka_scram_password}")}")"
kafka_ca_arn=""
if [[ -n "${kafka_ca_location}" ]]; then
    [[ -r "${kafka_ca_location}" ]] || {
        say "KAFKA_CA_LOCATION=${kafka_ca_location}: not readable"
        exit 2
    }
    kafka_ca_arn="$(ensure_json_secret "${kafka_ca_secret}" \
        "root CA of the Kafka brokers' TLS certificates (local)" \
        "{\"certificate\":$(json_string "$(<"${kafka_ca_location}")")}")"
else
    say "secret ${kafka_ca_secret}: skipped (no KAFKA_CA_LOCATION)"
fi

# SES v1 identities (verification is idempotent; emulators mark them verified at once).
awsx ses verify-email-identity --email-address "${ses_email}" >/dev/null
awsx ses verify-domain-identity --domain "${ses_domain}" >/dev/null
say "ses identities ${ses_email}, ${ses_domain}: verified"

printf 'ON_FAILURE_QUEUE_URL=%s\n' "${queue_url}"
printf 'KAFKA_SCRAM_SECRET_ARN=%s\n' "${kafka_scram_arn}"
[[ -z "${kafka_ca_arn}" ]] || printf 'KAFKA_CA_SECRET_ARN=%s\n' "${kafka_ca_arn}"
