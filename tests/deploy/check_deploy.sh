#!/usr/bin/env bash
# Offline checks of deploy/: everything that can be verified without a Docker engine, an AWS
# account or a Kubernetes cluster. Prints one line per check and ends with "N passed, M failed";
# exits non-zero if any check failed. A check whose tool is missing (docker-compose, PyYAML,
# jq, botocore, shellcheck, a local build) is skipped with the reason and counted in neither.
#
#   bash tests/deploy/check_deploy.sh        (also registered with CTest as deploy_checks)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
deploy="${root}/deploy"
dockerfile="${deploy}/docker/Dockerfile"
entrypoint="${deploy}/docker/entrypoint.sh"
task="${deploy}/ecs/task-definition.json"
build_dir="${FLS_BUILD_DIR:-build}"
[[ "$build_dir" == /* ]] || build_dir="${root}/${build_dir}"

work="$(mktemp -d)"
responder_pid=""
cleanup() {
  if [[ -n "$responder_pid" ]]; then kill "$responder_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0

# Runs one check in a subshell with errexit on (not suppressed, since it is not an `if`
# condition); the ERR trap names a command that failed without a message of its own.
# Status 0 passes, 77 skips (last output line is the reason), anything else fails.
run() {
  local name="$1" out rc line
  shift
  set +e
  out="$(set -eE; trap 'echo "command failed (line ${LINENO}): ${BASH_COMMAND}"' ERR; "$@" 2>&1)"
  rc=$?
  set -e
  case "$rc" in
    0) passed=$((passed + 1)); echo "PASS  ${name}" ;;
    77) echo "SKIP  ${name}: ${out##*$'\n'}" ;;
    *)
      failed=$((failed + 1))
      echo "FAIL  ${name}"
      if [[ -n "$out" ]]; then
        while IFS= read -r line; do echo "      ${line}"; done <<<"$out"
      fi
      ;;
  esac
}
fail() { echo "$*"; exit 1; }
skip() { echo "$*"; exit 77; }
need() { command -v "$1" >/dev/null || skip "$1 is not installed (apt-get install ${2:-$1})"; }

# A python3 that has PyYAML: the pyenv one on PATH may not, Debian's python3-yaml is in /usr/bin.
yaml_python=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import yaml' 2>/dev/null; then
    yaml_python="$candidate"
    break
  fi
done
need_yaml() { [[ -n "$yaml_python" ]] || skip "PyYAML is missing (apt-get install python3-yaml)"; }

# The YAML assertions, in Python so that documents are read by a real YAML parser.
cat >"${work}/yaml_checks.py" <<'PY'
import glob, os, re, sys
import yaml

deploy = sys.argv[2]
errors = []

def check(condition, message):
    if not condition:
        errors.append(message)

def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]

def k8s(kind, name=None):
    found = [d for p in sorted(glob.glob(os.path.join(deploy, "k8s", "*.yaml"))) for d in load(p)
             if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    return found

def container_env(container):
    """The container's environment as the kubelet builds it: envFrom ConfigMaps, then env."""
    env = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            maps = k8s("ConfigMap", ref["name"])
            check(maps, f"envFrom names ConfigMap {ref['name']!r}, which no deploy/k8s file defines")
            for cm in maps:
                env.update(cm.get("data", {}))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secrets = k8s("Secret", ref["name"])
                keys = {k for s in secrets for k in list(s.get("stringData", {})) + list(s.get("data", {}))}
                check(ref["key"] in keys, f"{item['name']}: secretKeyRef {ref['name']}/{ref['key']} is not in secret.yaml")
            env[item["name"]] = ref
    return env

def probe(container, kind):
    get = (container.get(kind) or {}).get("httpGet") or {}
    return get.get("path"), get.get("port")

def pod_ports(deployment):
    return {p.get("name") for c in deployment["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}

def check_selects(service, deployment):
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    check(all(labels.get(k) == v for k, v in selector.items()),
          f"Service {service['metadata']['name']} selects {selector}, pod labels are {labels}")
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        check(isinstance(target, int) or target in pod_ports(deployment),
              f"Service {service['metadata']['name']}: targetPort {target!r} is no container port name")

def parse():
    files = sorted(glob.glob(os.path.join(deploy, "k8s", "*.yaml")))
    check(files, "no deploy/k8s/*.yaml")
    for path in files:
        for doc in load(path):
            check(doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name"),
                  f"{os.path.basename(path)}: a document lacks apiVersion, kind or metadata.name")

def deployment():
    deployments = [d for d in load(os.path.join(deploy, "k8s", "deployment.yaml")) if d["kind"] == "Deployment"]
    check(len(deployments) == 1, "deployment.yaml must hold one Deployment")
    d = deployments[0]
    spec = d["spec"]["template"]["spec"]
    check(all(d["spec"]["template"]["metadata"]["labels"].get(k) == v
              for k, v in d["spec"]["selector"]["matchLabels"].items()), "selector does not match the pod labels")
    containers = {c["name"]: c for c in spec["containers"]}
    check(len(containers) == 2 and "forensic-logging-sidecar" in containers,
          f"want the application and forensic-logging-sidecar in one pod, got {list(containers)}")
    side = containers.get("forensic-logging-sidecar", {})
    check(probe(side, "livenessProbe") == ("/health", 6789), f"livenessProbe is {probe(side, 'livenessProbe')}")
    check(probe(side, "readinessProbe") == ("/ready", 6789), f"readinessProbe is {probe(side, 'readinessProbe')}")
    env = container_env(side)
    check(isinstance(env.get("SIDE_DATABASE_URI"), dict), "SIDE_DATABASE_URI must come from a secretKeyRef")
    grace = spec.get("terminationGracePeriodSeconds", 30)
    shutdown = int(env.get("SIDE_SHUTDOWN_TIMEOUT", 20000))
    check(grace * 1000 > shutdown, f"terminationGracePeriodSeconds {grace} s <= SIDE_SHUTDOWN_TIMEOUT {shutdown} ms")
    # httpGet probes reach the pod IP, and SIDE_BIND_ADDRESS binds the health port too.
    check(env.get("SIDE_BIND_ADDRESS", "0.0.0.0") == "0.0.0.0", "SIDE_BIND_ADDRESS must stay 0.0.0.0 for httpGet probes")
    res = side.get("resources", {})
    check(res.get("requests") == {"memory": "64Mi", "cpu": "50m"}, f"sidecar requests are {res.get('requests')}")
    check(res.get("limits") == {"memory": "128Mi", "cpu": "500m"}, f"sidecar limits are {res.get('limits')}")
    sc = side.get("securityContext", {})
    check(sc.get("runAsNonRoot") is True and sc.get("readOnlyRootFilesystem") is True
          and sc.get("allowPrivilegeEscalation") is False and sc.get("capabilities", {}).get("drop") == ["ALL"],
          f"sidecar securityContext is {sc}")
    apps = [c for n, c in containers.items() if n != "forensic-logging-sidecar"]
    for app in apps:
        app_env = container_env(app)
        check(app_env.get("CLEDG_SIDECAR__HOST") == "localhost", "the application must reach the sidecar on localhost")
    for service in k8s("Service", "central-ledger"):
        check_selects(service, d)
        check(all(p["port"] != 5678 for p in service["spec"]["ports"]), "the Service must not expose the intake")
    check(k8s("Service", "central-ledger"), "service.yaml has no central-ledger Service")

def kms():
    docs = load(os.path.join(deploy, "k8s", "kms.yaml"))
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    services = [d for d in docs if d["kind"] == "Service"]
    check(len(deployments) == 1 and len(services) == 1, "kms.yaml must hold one Deployment and one Service")
    d = deployments[0]
    check(d["spec"].get("replicas") == 1, "fls-kms must run as a single replica")
    (container,) = d["spec"]["template"]["spec"]["containers"]
    env = container_env(container)
    for name in ("KMS_DATABASE_URI", "KMS_MASTER_KEY", "KMS_ADMIN_TOKEN"):
        check(isinstance(env.get(name), dict), f"{name} must come from a secretKeyRef")
    for kind in ("livenessProbe", "readinessProbe"):
        check(probe(container, kind) == ("/health", 8080), f"fls-kms {kind} is {probe(container, kind)}")
    check_selects(services[0], d)
    # The sidecar's SIDE_KMS__URL must name this Service.
    maps = k8s("ConfigMap")
    urls = [m["data"].get("SIDE_KMS__URL", "") for m in maps]
    name = services[0]["metadata"]["name"]
    check(any(re.match(rf"wss?://{name}[:/.]", u) for u in urls), f"no ConfigMap's SIDE_KMS__URL points at Service {name}: {urls}")

def compose():
    with open(os.path.join(deploy, "docker-compose.yml")) as f:
        c = yaml.safe_load(f)
    s = c["services"]
    nets = {name: sorted(svc.get("networks", [])) for name, svc in s.items()}
    want = {"postgres": ["back"], "kms": ["back"], "forensic-logging-sidecar": ["back", "sidecar"],
            "central-ledger": ["sidecar"]}
    check(nets == want, f"networks are {nets}, want {want}")
    deps = {name: svc.get("depends_on", {}) for name, svc in s.items()}
    want_deps = {"kms": {"postgres"}, "forensic-logging-sidecar": {"postgres", "kms"},
                 "central-ledger": {"forensic-logging-sidecar"}}
    for name, targets in want_deps.items():
        got = deps.get(name, {})
        check(isinstance(got, dict) and set(got) == targets
              and all(v.get("condition") == "service_healthy" for v in got.values()),
              f"{name} depends_on {got}, want {sorted(targets)} with condition service_healthy")
    for name in ("postgres", "kms", "forensic-logging-sidecar"):
        check(s[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck")
    check("pg_isready" in str(s["postgres"]["healthcheck"]["test"]), "postgres healthcheck is not pg_isready")
    check(any(str(v).endswith(":/docker-entrypoint-initdb.d:ro") or ":/docker-entrypoint-initdb.d" in str(v)
              for v in s["postgres"].get("volumes", [])), "postgres does not mount an init folder")
    with open(os.path.join(deploy, "postgres-init", "01-databases.sql")) as f:
        sql = f.read().lower()
    check("create database sidecar" in sql and "create database kms" in sql, "01-databases.sql must create sidecar and kms")
    side = s["forensic-logging-sidecar"]
    env = side.get("environment", {})
    check(env.get("SIDE_KMS__URL") == "ws://kms:8080/sidecar", f"SIDE_KMS__URL is {env.get('SIDE_KMS__URL')}")
    check(env.get("SIDE_SERVICE") == "central-ledger", f"SIDE_SERVICE is {env.get('SIDE_SERVICE')}")
    check("SIDE_DATABASE_URI" in env and "KMS_DATABASE_URI" in s["kms"].get("environment", {}), "database URIs missing")
    check(s["kms"].get("command") in (["kms"], "kms"), "the kms service must run the image's kms role")
    grace = side.get("stop_grace_period", "10s")
    m = re.fullmatch(r"(\d+)s", str(grace))
    check(m and int(m.group(1)) * 1000 > int(env.get("SIDE_SHUTDOWN_TIMEOUT", 20000)),
          f"stop_grace_period {grace} must exceed SIDE_SHUTDOWN_TIMEOUT")
    app = s["central-ledger"]
    words = list(app.get("entrypoint", [])) + list(app.get("command", []))
    check(any(w.endswith("send_events") for w in words) and "forensic-logging-sidecar" in words,
          f"central-ledger must run send_events against forensic-logging-sidecar, runs {words}")

{"parse": parse, "deployment": deployment, "kms": kms, "compose": compose}[sys.argv[1]]()
if errors:
    print("\n".join(errors))
    sys.exit(1)
PY
yaml_check() { need_yaml; "$yaml_python" "${work}/yaml_checks.py" "$1" "$deploy"; }

# --- Compose ---------------------------------------------------------------------------------

compose_config() {
  need docker-compose
  docker-compose --env-file "${deploy}/.env.example" -f "${deploy}/docker-compose.yml" config -q
}

env_example_complete() {
  local var missing=()
  # $$ is compose's escape for a literal $ (the container's own variable), not a read.
  while read -r var; do
    grep -q "^${var}=" "${deploy}/.env.example" || missing+=("$var")
  done < <(sed 's/\$\$//g' "${deploy}/docker-compose.yml" | grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*' | cut -c3- | sort -u)
  ((${#missing[@]} == 0)) || fail ".env.example lacks: ${missing[*]}"
  if grep -Eq '^KMS_MASTER_KEY=[0-9a-fA-F]{64}$' "${deploy}/.env.example"; then
    fail ".env.example holds a usable KMS_MASTER_KEY; it must be a placeholder"
  fi
}

# --- ECS -------------------------------------------------------------------------------------

# jq_assert FILE MESSAGE FILTER: fails with MESSAGE unless FILTER is true for FILE.
jq_assert() { jq -e "$3" "$1" >/dev/null || fail "$2"; }

ecs_required_fields() {
  need jq
  jq empty "$task" || fail "task-definition.json is not JSON"
  jq_assert "$task" "family must be a non-empty string" '.family | type == "string" and length > 0'
  jq_assert "$task" "containerDefinitions must list the application and the sidecar" \
    '.containerDefinitions | type == "array" and length >= 2'
  jq_assert "$task" "each container needs name, image, essential and memory or memoryReservation" \
    'all(.containerDefinitions[]; (.name | type == "string") and (.image | type == "string")
       and (.essential | type == "boolean") and ((.memory // .memoryReservation) | type == "number"))'
  jq_assert "$task" "every portMapping needs a numeric containerPort" \
    'all(.containerDefinitions[].portMappings[]?; .containerPort | type == "number")'
  jq_assert "$task" "the application container needs portMappings" \
    'any(.containerDefinitions[]; .name != "forensic-logging-sidecar" and (.portMappings | length > 0))'
  # The intake must be reachable: mapped, or bound to the task's shared loopback.
  jq_assert "$task" "the sidecar needs a 5678 portMapping unless SIDE_BIND_ADDRESS is 127.0.0.1" \
    '.containerDefinitions[] | select(.name == "forensic-logging-sidecar")
     | any(.portMappings[]?; .containerPort == 5678)
       or any(.environment[]; .name == "SIDE_BIND_ADDRESS" and .value == "127.0.0.1")'
  jq_assert "$task" "networkMode must be awsvpc (no links, hostPort = containerPort) or bridge with links" \
    'if .networkMode == "awsvpc" then
       all(.containerDefinitions[]; (has("links") | not)
           and all(.portMappings[]?; (.hostPort // .containerPort) == .containerPort))
     elif .networkMode == "bridge" then any(.containerDefinitions[]; .links | length > 0)
     else false end'
}

ecs_sidecar_wiring() {
  need jq
  local side='.containerDefinitions[] | select(.name == "forensic-logging-sidecar")'
  jq_assert "$task" "exactly one container named forensic-logging-sidecar" \
    '[.containerDefinitions[] | select(.name == "forensic-logging-sidecar")] | length == 1'
  jq_assert "$task" "the application must dependsOn the sidecar being HEALTHY" \
    'all(.containerDefinitions[] | select(.name != "forensic-logging-sidecar");
         any(.dependsOn[]?; .containerName == "forensic-logging-sidecar" and .condition == "HEALTHY"))'
  jq_assert "$task" "the sidecar healthCheck must run the entrypoint's health probe" \
    "${side} | .healthCheck.command | index(\"/usr/local/bin/entrypoint.sh\") != null and index(\"health\") != null"
  jq_assert "$task" "stopTimeout * 1000 must exceed SIDE_SHUTDOWN_TIMEOUT" \
    "${side} | (.stopTimeout // 30) * 1000 > ([.environment[] | select(.name == \"SIDE_SHUTDOWN_TIMEOUT\") | .value | tonumber] | first // 20000)"
  jq_assert "$task" "SIDE_DATABASE_URI must come from secrets (SSM or Secrets Manager), not environment" \
    "${side} | any(.secrets[]?; .name == \"SIDE_DATABASE_URI\" and (.valueFrom | test(\"^arn:aws:(ssm|secretsmanager):\")))
       and all(.environment[]; .name != \"SIDE_DATABASE_URI\")"
  jq_assert "$task" "every container logs with awslogs" \
    'all(.containerDefinitions[]; .logConfiguration.logDriver == "awslogs")'
}

# A fake `aws` that records its calls; register-task-definition checks and answers like AWS.
make_fake_aws() {
  mkdir -p "${work}/aws-bin"
  cat >"${work}/aws-bin/aws" <<'EOF'
#!/usr/bin/env bash
echo "aws $*" >>"${FAKE_AWS_LOG:?}"
if [[ "$*" == *register-task-definition* ]]; then
  for arg; do [[ "$arg" == file://* ]] && jq -e .family "${arg#file://}" >/dev/null || true; done
  echo "arn:aws:ecs:eu-west-1:123456789012:task-definition/central-ledger:7"
fi
EOF
  chmod +x "${work}/aws-bin/aws"
}
sample_vars=(AWS_ACCOUNT_ID=123456789012 AWS_REGION=eu-west-1
  IMAGE=123456789012.dkr.ecr.eu-west-1.amazonaws.com/forensic-logging-sidecar:1.0.0
  APP_IMAGE=123456789012.dkr.ecr.eu-west-1.amazonaws.com/central-ledger:v1 KMS_URL=wss://kms.example.internal/sidecar)

ecs_dry_run() {
  need jq
  make_fake_aws
  local log="${work}/aws-dry.log"
  env PATH="${work}/aws-bin:${PATH}" FAKE_AWS_LOG="$log" "${sample_vars[@]}" \
    bash "${deploy}/ecs/deploy.sh" --dry-run >"${work}/rendered.json"
  jq empty "${work}/rendered.json" || fail "--dry-run output is not JSON"
  if grep -nF "\${" "${work}/rendered.json"; then fail "placeholders left after rendering"; fi
  jq_assert "${work}/rendered.json" "images not substituted" \
    '[.containerDefinitions[].image] | sort == ["123456789012.dkr.ecr.eu-west-1.amazonaws.com/central-ledger:v1",
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com/forensic-logging-sidecar:1.0.0"]'
  [[ ! -s "$log" ]] || fail "--dry-run called aws: $(cat "$log")"
}

ecs_deploy_flow() {
  need jq
  make_fake_aws
  local log="${work}/aws.log" out
  # A missing variable stops before any aws call, naming the variable.
  if out="$(env -u CLUSTER PATH="${work}/aws-bin:${PATH}" FAKE_AWS_LOG="$log" "${sample_vars[@]}" SERVICE=s \
    bash "${deploy}/ecs/deploy.sh" 2>&1)"; then
    fail "deploy.sh without CLUSTER succeeded"
  fi
  [[ "$out" == *"CLUSTER is not set"* ]] || fail "no message naming CLUSTER: ${out}"
  [[ ! -s "$log" ]] || fail "aws was called although CLUSTER was missing"
  env PATH="${work}/aws-bin:${PATH}" FAKE_AWS_LOG="$log" "${sample_vars[@]}" CLUSTER=switch SERVICE=central-ledger \
    bash "${deploy}/ecs/deploy.sh" >/dev/null
  local arn="arn:aws:ecs:eu-west-1:123456789012:task-definition/central-ledger:7"
  grep -q '^aws ecs register-task-definition .*--cli-input-json file://' "$log" || fail "no register-task-definition: $(cat "$log")"
  grep -q "^aws ecs update-service .*--cluster switch --service central-ledger --task-definition ${arn}" "$log" \
    || fail "update-service not called with the new ARN: $(cat "$log")"
  grep -q '^aws ecs wait services-stable .*--cluster switch --services central-ledger' "$log" \
    || fail "no wait services-stable: $(cat "$log")"
}

# Validates the rendered JSON against the RegisterTaskDefinition input shape of the ECS API
# model that botocore ships (types, required members, unknown keys), entirely offline.
ecs_api_shape() {
  local py=""
  for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import botocore' 2>/dev/null; then py="$candidate"; break; fi
  done
  [[ -n "$py" ]] || skip "botocore is missing (apt-get install python3-botocore), optional"
  env "${sample_vars[@]}" bash "${deploy}/ecs/deploy.sh" --dry-run | "$py" -c '
import json, sys, botocore.session
from botocore.validate import ParamValidator
shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape
report = ParamValidator().validate(json.load(sys.stdin), shape)
if report.has_errors():
    sys.exit(report.generate_report())'
}

# --- Dockerfile ------------------------------------------------------------------------------

# The lines of the last stage, with backslash continuations joined.
# The Dockerfile without comments, backslash continuations joined into one line each.
dockerfile_lines() { grep -v '^[[:space:]]*#' "$dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta'; }
# The lines of the last (runtime) stage, and of the first (build) stage.
runtime_stage() { dockerfile_lines | awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}'; }
build_stage() { dockerfile_lines | awk '/^FROM /{n++} n==1'; }
# Package names after `apt-get install` (options dropped) in the given text.
apt_packages() { grep -o 'apt-get install[^&;]*' | sed 's/apt-get install//' | tr ' ' '\n' | grep -v '^-' | grep -v '^$' | sort -u; }

dockerfile_runtime_stage() {
  local stage user
  [[ "$(grep -c '^FROM ' "$dockerfile")" -ge 2 ]] || fail "not a multi-stage build"
  grep -Eq '^FROM debian:bookworm(-slim)?( |$)' "$dockerfile" || fail "stages must start FROM debian:bookworm(-slim)"
  stage="$(runtime_stage)"
  grep -Eq '^FROM debian:bookworm(-slim)?$' <<<"$stage" || fail "runtime stage is not debian:bookworm(-slim)"
  user="$(grep -E '^USER ' <<<"$stage" | tail -n1 | awk '{print $2}')"
  [[ -n "$user" ]] || fail "runtime stage has no USER"
  case "${user%%:*}" in root | 0) fail "runtime USER is root" ;; esac
  for port in 5678 6789 8080; do
    grep -Eq "^EXPOSE .*\b${port}\b" <<<"$stage" || fail "EXPOSE lacks ${port}"
  done
  grep -Eq '^HEALTHCHECK .*CMD .*entrypoint\.sh.*health' <<<"$stage" || fail "no HEALTHCHECK using entrypoint.sh health"
  grep -Eq '^ENTRYPOINT \["/usr/local/bin/entrypoint\.sh"\]' <<<"$stage" || fail "ENTRYPOINT is not entrypoint.sh"
  grep -q 'examples/send_events' <<<"$stage" || fail "runtime stage does not copy send_events"
  if grep -Eqw 'curl|wget' <<<"$stage"; then fail "runtime stage installs curl/wget; the probe needs neither"; fi
  local build
  build="$(build_stage)"
  grep -q -- '-DFLS_TESTS=OFF' <<<"$build" || fail "build stage must configure with -DFLS_TESTS=OFF"
  for target in forensic-logging-sidecar fls-kms send_events; do
    grep -Eq "ninja .*\b${target}\b" <<<"$build" || fail "build stage does not build ${target}"
  done
}

bookworm_host() {
  need apt-cache apt
  # shellcheck disable=SC1091
  [[ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" == bookworm ]] || skip "apt-cache here does not answer for bookworm"
}

dockerfile_packages_exist() {
  bookworm_host
  local pkg missing=() packages
  packages="$( { build_stage; runtime_stage; } | apt_packages)"
  [[ -n "$packages" ]] || fail "found no apt-get install in the Dockerfile"
  # One apt-cache call (each takes a second or more); it prints what it knows and skips the rest.
  local known
  # shellcheck disable=SC2086
  known="$(apt-cache show --no-all-versions $packages 2>/dev/null | sed -n 's/^Package: //p' | sort -u || true)"
  for pkg in $packages; do
    grep -qx -- "$pkg" <<<"$known" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) || fail "not in this machine's bookworm lists (apt-get update?): ${missing[*]}"
}

# Every shared library the locally built executables link directly must come from a runtime
# package (or one it depends on, or the base image's libc6/libgcc-s1).
dockerfile_runtime_libraries() {
  bookworm_host
  need readelf binutils
  local binaries=("${build_dir}/forensic-logging-sidecar" "${build_dir}/fls-kms" "${build_dir}/examples/send_events")
  local b closure lib path pkg uncovered=()
  for b in "${binaries[@]}"; do
    [[ -x "$b" ]] || skip "${b} is not built"
    readelf -h "$b" >/dev/null 2>&1 || skip "${b} is not a complete executable (being linked?)"
  done
  # scripts/test.sh --sanitize points FLS_BUILD_DIR at an ASan build, which links libasan & co.
  if grep -Eq '^FLS_(SANITIZE|FUZZ):BOOL=ON$' "${build_dir}/CMakeCache.txt" 2>/dev/null; then
    skip "${build_dir} is a sanitizer/fuzz build, not what the image builds"
  fi
  closure="$( { printf '%s\n' libc6 libgcc-s1
    # shellcheck disable=SC2046
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
      --no-enhances $(runtime_stage | apt_packages) | grep -E '^[a-z0-9]'; } | sort -u)"
  local resolved line file
  local -a libs=() paths=()
  local -A where=() owner=()
  # Where the loader finds each library (ldd also lists indirect ones; only NEEDED are looked up).
  resolved="$(ldd "${binaries[@]}" | awk '$2 == "=>" {print $1, $3}')"
  mapfile -t libs < <(readelf -d "${binaries[@]}" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
  for lib in "${libs[@]}"; do
    path="$(awk -v l="$lib" '$1 == l && !found {print $2; found = 1}' <<<"$resolved")"
    [[ -n "$path" ]] || fail "cannot locate ${lib}"
    where[$lib]="$path"
    # dpkg knows a file by the path its package ships, /lib/... or /usr/lib/... (usrmerge).
    paths+=("$path" "$(readlink -f "$path")")
  done
  # One dpkg -S for all (each call reads the whole database); lines are "pkg[:arch][, pkg2]: path".
  while IFS= read -r line; do
    file="${line##*: }"
    pkg="${line%%: /*}"
    owner[$file]="${pkg%%[:,]*}"
  done < <(dpkg -S "${paths[@]}" 2>/dev/null | grep -v '^diversion' || true)
  for lib in "${libs[@]}"; do
    path="${where[$lib]}"
    pkg="${owner[$path]:-${owner[$(readlink -f "$path")]:-}}"
    [[ -n "$pkg" ]] || fail "no package owns ${path}"
    grep -qx -- "$pkg" <<<"$closure" || uncovered+=("${lib} (${pkg})")
  done
  ((${#uncovered[@]} == 0)) || fail "runtime stage lacks: ${uncovered[*]}"
}

# --- entrypoint.sh ---------------------------------------------------------------------------

make_stubs() {
  mkdir -p "${work}/bin"
  for name in forensic-logging-sidecar fls-kms; do
    printf '#!/bin/sh\necho "%s pid=$$ args=$*"\n' "$name" >"${work}/bin/${name}"
    chmod +x "${work}/bin/${name}"
  done
}

entrypoint_roles() {
  make_stubs
  local out
  bash -n "$entrypoint" || fail "entrypoint.sh has a syntax error"
  [[ -x "$entrypoint" ]] || fail "entrypoint.sh is not executable"
  out="$(FLS_BIN_DIR="${work}/bin" "$entrypoint")"
  [[ "$out" =~ ^forensic-logging-sidecar\ pid=[0-9]+\ args=$ ]] || fail "no role: ${out}"
  out="$(FLS_BIN_DIR="${work}/bin" "$entrypoint" kms --version)"
  [[ "$out" =~ ^fls-kms\ pid=[0-9]+\ args=--version$ ]] || fail "kms --version: ${out}"
  out="$(FLS_BIN_DIR="${work}/bin" "$entrypoint" sidecar migrate)"
  [[ "$out" =~ ^forensic-logging-sidecar\ pid=[0-9]+\ args=migrate$ ]] || fail "sidecar migrate: ${out}"
  # exec: the program keeps the entrypoint's PID, so SIGTERM from the runtime reaches it.
  out="$(FLS_BIN_DIR="${work}/bin" bash -c 'echo "pid=$$"; exec "$0" kms' "$entrypoint")"
  [[ "$(sed -n 1p <<<"$out")" == "$(sed -n 2p <<<"$out" | grep -o 'pid=[0-9]*')" ]] \
    || fail "the program does not replace the entrypoint process: ${out}"
  if out="$(FLS_BIN_DIR="${work}/bin" "$entrypoint" bogus 2>&1)"; then fail "an unknown role succeeded: ${out}"; fi
  [[ "$out" == *"unknown role 'bogus'"* ]] || fail "no clear message for an unknown role: ${out}"
  [[ "$out" != *pid=* ]] || fail "an unknown role started a program: ${out}"
}

# A local HTTP responder: /health 200, /ready 503, as the sidecar answers while not registered.
start_responder() {
  cat >"${work}/responder.py" <<'PY'
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = {"/health": 200, "/ready": 503}.get(self.path, 404)
        body = b'{"status":"OK"}' if code == 200 else b'{"status":"not ready"}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
PY
  python3 "${work}/responder.py" "${work}/responder.port.tmp" >"${work}/responder.log" 2>&1 &
  responder_pid=$!
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

entrypoint_health() {
  need python3
  local port closed i
  for ((i = 0; i < 50; i++)); do
    [[ -s "${work}/responder.port.tmp" ]] && break
    sleep 0.1
  done
  port="$(cat "${work}/responder.port.tmp" 2>/dev/null)" || fail "the test responder did not start: $(cat "${work}/responder.log")"
  closed="$(free_port)"
  if SIDE_HEALTH_PORT="$closed" "$entrypoint" health; then fail "health passed with nothing on port ${closed}"; fi
  SIDE_HEALTH_PORT="$port" "$entrypoint" health || fail "health failed against a 200 /health on ${port}"
  if SIDE_HEALTH_PORT="$port" "$entrypoint" health /ready; then fail "health passed on a 503 /ready"; fi
  if SIDE_HEALTH_PORT="$closed" "$entrypoint" health /health "$port"; then :; else fail "the PORT argument is ignored"; fi
}

shell_lint() {
  need shellcheck
  shellcheck "$entrypoint" "${deploy}/ecs/deploy.sh" "${BASH_SOURCE[0]}"
}

# --- run -------------------------------------------------------------------------------------

if command -v python3 >/dev/null; then start_responder; fi

run "docker-compose config -q (deploy/.env.example)" compose_config
run "compose: networks, healthchecks, depends_on service_healthy, stop grace" yaml_check compose
run ".env.example defines every variable the compose file reads" env_example_complete
run "ECS task definition: JSON with the fields ECS requires" ecs_required_fields
run "ECS task definition: sidecar health, dependsOn HEALTHY, stopTimeout, secrets, awslogs" ecs_sidecar_wiring
run "deploy.sh --dry-run renders valid JSON without placeholders and calls no aws" ecs_dry_run
run "deploy.sh registers, updates the service with the new ARN, waits (fake aws)" ecs_deploy_flow
run "ECS task definition matches the RegisterTaskDefinition API shape (botocore)" ecs_api_shape
run "k8s: every YAML document parses" yaml_check parse
run "k8s: deployment (two containers, probes, grace > SIDE_SHUTDOWN_TIMEOUT, security, refs)" yaml_check deployment
run "k8s: kms Deployment + Service and its Secret references" yaml_check kms
run "Dockerfile: stages, non-root USER, EXPOSE, HEALTHCHECK, ENTRYPOINT, targets" dockerfile_runtime_stage
run "Dockerfile: every apt package exists in bookworm" dockerfile_packages_exist
run "Dockerfile: runtime packages cover the libraries the built executables link" dockerfile_runtime_libraries
run "entrypoint.sh: sidecar by default, kms with args, exec, unknown role fails" entrypoint_roles
run "entrypoint.sh health: fails with no listener or non-200, passes on 200" entrypoint_health
run "shellcheck deploy scripts" shell_lint

echo "${passed} passed, ${failed} failed"
((failed == 0))
