#!/usr/bin/env bash
# Local AWS emulator (moto server) for the AWS backends: DynamoDB, KMS, EventBridge, SQS.
#
#   infra/moto.sh [start]   install moto[server] if missing, start it (or reuse one that
#                           already answers on the port), wait until it answers, and print
#                           the environment to point the AWS SDK at it:
#                               eval "$(infra/moto.sh start)"
#   infra/moto.sh stop      stop the server this script started (PID file), if any
#   infra/moto.sh status    say whether a server answers on the port
#   infra/moto.sh seed      create the table, key and bus of template.yaml in the running
#                           server, and the execute-step rule with an SQS queue as its
#                           target, and print the STUDIO_* variables naming them
#
# Environment: MOTO_PORT (default 5555), STUDIO_TOOLS_DIR (default <repo>/.tools).
# Progress goes to stderr; only the `export ...` lines go to stdout.
set -euo pipefail

MOTO_VERSION="5.2.5"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${STUDIO_TOOLS_DIR:-$REPO_ROOT/.tools}"
VENV="$TOOLS_DIR/venv"
PORT="${MOTO_PORT:-5555}"
HOST="127.0.0.1"
URL="http://$HOST:$PORT"
PID_FILE="$TOOLS_DIR/moto.pid"
LOG_FILE="$TOOLS_DIR/moto.log"
READY_TIMEOUT_S=20

log() { printf 'moto.sh: %s\n' "$*" >&2; }
die() { printf 'moto.sh: ERROR: %s\n' "$*" >&2; exit 1; }

answers() {
    curl -fsS -o /dev/null --max-time 1 "$URL/moto-api/" 2>/dev/null
}

print_env() {
    cat <<EOF
export AWS_ENDPOINT_URL=$URL
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
EOF
}

# The PID in the file, if that process is alive and is a moto server.
our_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q moto_server || return 1
    printf '%s\n' "$pid"
}

ensure_installed() {
    mkdir -p "$TOOLS_DIR"
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating venv $VENV"
        python3 -m venv "$VENV" >&2
    fi
    if [[ -x "$VENV/bin/moto_server" ]]; then
        return 0
    fi
    log "installing moto[server]==$MOTO_VERSION into $VENV"
    "$VENV/bin/pip" install --disable-pip-version-check -q "moto[server]==$MOTO_VERSION" >&2 \
        || die "pip install moto[server]==$MOTO_VERSION failed"
    [[ -x "$VENV/bin/moto_server" ]] || die "moto_server missing from $VENV/bin after install"
}

cmd_start() {
    if answers; then
        log "a server already answers on $URL: reusing it"
        print_env
        return 0
    fi
    # A PID file whose process is gone (or is not moto any more) is stale.
    if [[ -f "$PID_FILE" ]] && ! our_pid >/dev/null; then
        rm -f "$PID_FILE"
    fi
    ensure_installed
    log "starting moto_server on $URL (log: $LOG_FILE)"
    # setsid + nohup: the server outlives this script; no inherited stdout, so that
    # `eval "$(infra/moto.sh start)"` returns as soon as the exports are printed.
    setsid nohup "$VENV/bin/moto_server" -H "$HOST" -p "$PORT" \
        </dev/null >"$LOG_FILE" 2>&1 &
    local pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"

    local deadline=$((SECONDS + READY_TIMEOUT_S))
    until answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            log "moto_server (pid $pid) exited before answering; last lines of $LOG_FILE:"
            tail -n 20 "$LOG_FILE" >&2 || true
            die "moto server did not start on $URL"
        fi
        if ((SECONDS >= deadline)); then
            log "no answer from $URL/moto-api/ after ${READY_TIMEOUT_S}s; last lines of $LOG_FILE:"
            tail -n 20 "$LOG_FILE" >&2 || true
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            die "moto server did not become ready on $URL"
        fi
        sleep 0.2
    done
    log "moto server ready on $URL (pid $pid)"
    print_env
}

cmd_stop() {
    local pid
    if ! pid="$(our_pid)"; then
        rm -f "$PID_FILE"
        if answers; then
            log "a server answers on $URL but was not started by this script (no PID file): left running"
        else
            log "no moto server of ours is running"
        fi
        return 0
    fi
    log "stopping moto server (pid $pid)"
    kill "$pid" 2>/dev/null || true
    local _
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid still alive after 5s: sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    log "stopped"
}

cmd_status() {
    if answers; then
        local pid
        if pid="$(our_pid)"; then
            log "running on $URL (pid $pid, started by this script)"
        else
            log "running on $URL (not started by this script)"
        fi
    else
        log "not running on $URL"
        return 1
    fi
}

# Create the resources template.yaml declares, under the same shape, in the running
# server (idempotent), and print the STUDIO_* variables the functions read.
cmd_seed() {
    answers || die "no moto server answers on $URL: run infra/moto.sh start first"
    ensure_installed
    AWS_ENDPOINT_URL="$URL" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
        AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
        STUDIO_SEED_NAME="${STUDIO_SEED_NAME:-studio-local}" \
        "$VENV/bin/python" - <<'PY'
import os
import boto3

name = os.environ["STUDIO_SEED_NAME"]
table_name = f"{name}-table"
bus_name = f"studio-integrations-{name}"
alias = f"alias/studio-integrations-{name}"

ddb = boto3.client("dynamodb")
if table_name not in ddb.list_tables()["TableNames"]:
    ddb.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    ddb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"AttributeName": "ttl", "Enabled": True},
    )

kms = boto3.client("kms")
key_arn = None
for a in kms.list_aliases()["Aliases"]:
    if a["AliasName"] == alias:
        key_arn = kms.describe_key(KeyId=a["TargetKeyId"])["KeyMetadata"]["Arn"]
if key_arn is None:
    key_arn = kms.create_key(
        Description="studio credential envelopes (moto)",
        KeySpec="SYMMETRIC_DEFAULT",
        KeyUsage="ENCRYPT_DECRYPT",
    )["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_arn)

events = boto3.client("events")
if not any(b["Name"] == bus_name for b in events.list_event_buses()["EventBuses"]):
    events.create_event_bus(Name=bus_name)

# What the RouteToExecuteStep rule of template.yaml does, with an SQS queue as its
# target (a Lambda target makes PutEvents fail in moto): the local binary, given the
# queue's URL, hands each event to execute-step's handler as Lambda would. The pattern
# is template.yaml's (shared/src/routing.rs holds the same rule; tests check both).
import json
sqs = boto3.client("sqs")
queue_url = sqs.create_queue(QueueName=f"{name}-execute-step")["QueueUrl"]
queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
rule = f"{name}-route-to-execute-step"
events.put_rule(
    Name=rule,
    EventBusName=bus_name,
    EventPattern=json.dumps({
        "source": ["studio.integrations"],
        "detail-type": ["DataChanged", "WorkflowTriggered", "StepRequested"],
    }),
)
events.put_targets(Rule=rule, EventBusName=bus_name, Targets=[{"Id": "execute-step-queue", "Arn": queue_arn}])

print(f"export STUDIO_BACKEND=aws")
print(f"export STUDIO_TABLE_NAME={table_name}")
print(f"export STUDIO_KMS_KEY_ID={key_arn}")
print(f"export STUDIO_EVENT_BUS_NAME={bus_name}")
print(f"export STUDIO_EVENT_QUEUE_URL={queue_url}")
PY
}

case "${1:-start}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    seed) cmd_seed ;;
    -h | --help | help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (start | stop | status | seed)" ;;
esac
