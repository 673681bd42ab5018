#!/usr/bin/env bash
# scripts/services.sh - make real test services available to the wfe test suite.
#
# Called by the test command (scripts/test.sh) and by CI (.ci/run) as:
#     eval "$(bash scripts/services.sh)"          # best effort, always exits 0
#     eval "$(bash scripts/services.sh --require)" # exits 1 if a service is missing
#
# For each service it reuses one already answering on 127.0.0.1, otherwise (with
# root or passwordless sudo) installs it from Debian packages / Maven Central and
# starts it in the background (processes are left running for later runs):
#   PostgreSQL 15  :5432  role wfe/wfe, database wfe_test  -> WFE_TEST_POSTGRES_URL
#   Redis 7        :6379                                   -> WFE_TEST_VALKEY_URL
#   OpenSearch 2.19:9200  integ-test-zip, no security      -> WFE_TEST_OPENSEARCH_URL
#   Chromium (Debian's, for the dashboard's browser test)   -> WFE_TEST_CHROMIUM
# A WFE_TEST_*_URL already set in the environment is trusted and its service skipped.
# stdout carries ONLY `export WFE_TEST_...=...` lines for services that are up;
# progress and errors go to stderr. Safe to run repeatedly (idempotent).
#
# Knobs: WFE_SERVICES_DIR (cache, default ~/.cache/wfe-services),
#        WFE_OPENSEARCH_VERSION (default 2.19.6), WFE_OPENSEARCH_TIMEOUT (s, default 120).
set -u -o pipefail

REQUIRE=0
case "${1:-}" in
  --require) REQUIRE=1 ;;
  "") ;;
  *) echo "usage: $0 [--require]" >&2; exit 2 ;;
esac

CACHE="${WFE_SERVICES_DIR:-$HOME/.cache/wfe-services}"
OS_VERSION="${WFE_OPENSEARCH_VERSION:-2.19.6}"
OS_TIMEOUT="${WFE_OPENSEARCH_TIMEOUT:-120}"
OS_USER=wfe-opensearch
PG_VERSION=15
MAVEN_BASE=https://repo1.maven.org/maven2
OS_GAV="org.opensearch.distribution.integ-test-zip:opensearch:$OS_VERSION:zip"
export DEBIAN_FRONTEND=noninteractive

EXPORTS=()   # "NAME=value" for services that are up
MISSING=()   # services that could not be provided

log() { echo "services: $*" >&2; }
fail() { log "$1 ... UNAVAILABLE: $2"; MISSING+=("$1"); }

# Run a command as root (directly or through passwordless sudo); fails if neither.
if [[ $EUID -eq 0 ]]; then
  HAVE_ROOT=1; as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  HAVE_ROOT=1; as_root() { sudo -n -E "$@"; }
else
  HAVE_ROOT=0; as_root() { return 1; }
fi
as_user() { # as_user USER CMD... (from / so the user can always stat its cwd)
  local u=$1; shift
  if [[ $EUID -eq 0 ]]; then (cd / && runuser -u "$u" -- "$@"); else (cd / && sudo -n -u "$u" -- "$@"); fi
}

# apt_install PKG...: install without recommends; refresh the lists only if needed.
apt_install() {
  [[ $HAVE_ROOT -eq 1 ]] || return 1
  local opts=(-y -q --no-install-recommends)
  as_root apt-get install "${opts[@]}" "$@" </dev/null >&2 && return 0
  log "apt-get install $* failed; running apt-get update and retrying"
  as_root apt-get update -q </dev/null >&2 && as_root apt-get install "${opts[@]}" "$@" </dev/null >&2
}
# need CMD PKG: make sure CMD exists, installing Debian package PKG if it does not.
need() { command -v "$1" >/dev/null 2>&1 || { apt_install "$2" && command -v "$1" >/dev/null 2>&1; }; }

# ---------------------------------------------------------------- PostgreSQL
pg_url=postgresql://wfe:wfe@127.0.0.1:5432/wfe_test
pg_ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 -t 3; }
pg_login() { PGCONNECT_TIMEOUT=5 psql "$pg_url" -qAtc 'select 1' >/dev/null 2>&1; }
pg_setup_role() { # as the local postgres superuser over the unix socket
  as_user postgres psql -p 5432 -v ON_ERROR_STOP=1 -qAt >/dev/null <<'SQL'
DO $$BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'wfe')
  THEN ALTER ROLE wfe LOGIN SUPERUSER PASSWORD 'wfe';
  ELSE CREATE ROLE wfe LOGIN SUPERUSER PASSWORD 'wfe'; END IF;
END$$;
SELECT 'CREATE DATABASE wfe_test OWNER wfe'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'wfe_test')\gexec
SQL
}
svc_postgres() {
  local t0=$SECONDS how out
  if pg_ready; then
    how="ok (reused)"
  else
    [[ $HAVE_ROOT -eq 1 ]] || { fail postgres "not running and no root/sudo to install it; install postgresql or set WFE_TEST_POSTGRES_URL"; return; }
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ ! -x /usr/lib/postgresql/$PG_VERSION/bin/postgres ]]; then
      log "postgres ... installing"
      apt_install postgresql || { fail postgres "apt-get install postgresql failed; install postgresql or set WFE_TEST_POSTGRES_URL"; return; }
    fi
    if [[ ! -d /etc/postgresql/$PG_VERSION/main ]]; then
      as_root pg_createcluster "$PG_VERSION" main </dev/null >&2 || { fail postgres "pg_createcluster $PG_VERSION main failed"; return; }
    fi
    log "postgres ... starting cluster $PG_VERSION/main"
    # Daemons must not inherit our stdout/stderr (that would block `eval "$(...)"` / CI pipes).
    if ! out=$(as_root pg_ctlcluster "$PG_VERSION" main start </dev/null 2>&1) && ! pg_ready; then
      fail postgres "pg_ctlcluster $PG_VERSION main start failed: $out"; return
    fi
    for _ in $(seq 30); do pg_ready && break; sleep 1; done
    pg_ready || { fail postgres "cluster started but 127.0.0.1:5432 is not ready; see /var/log/postgresql/"; return; }
    how="started in $((SECONDS - t0))s"
  fi
  command -v psql >/dev/null 2>&1 || need psql postgresql-client || { fail postgres "psql missing; install postgresql-client"; return; }
  if ! pg_login; then
    if [[ $HAVE_ROOT -eq 1 ]] && id postgres >/dev/null 2>&1 && pg_setup_role && pg_login; then :; else
      fail postgres "server on 127.0.0.1:5432 but cannot log in as wfe/wfe to wfe_test; create that role and database or set WFE_TEST_POSTGRES_URL"; return
    fi
  fi
  log "postgres ... $how"
  EXPORTS+=("WFE_TEST_POSTGRES_URL=$pg_url")
}

# ---------------------------------------------------------------- Redis
redis_ping() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ $(timeout 5 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]]
  else
    # shellcheck disable=SC2016 # $l is expanded by the inner bash
    timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379 && printf "PING\r\n" >&3 && IFS= read -r l <&3 && [[ $l == +PONG* ]]' 2>/dev/null
  fi
}
svc_redis() {
  local t0=$SECONDS
  if redis_ping; then log "redis ... ok (reused)"; EXPORTS+=("WFE_TEST_VALKEY_URL=redis://127.0.0.1:6379/0"); return; fi
  if ! command -v redis-server >/dev/null 2>&1; then
    [[ $HAVE_ROOT -eq 1 ]] || { fail redis "not running and no root/sudo to install it; install redis-server or set WFE_TEST_VALKEY_URL"; return; }
    log "redis ... installing"
    apt_install redis-server || { fail redis "apt-get install redis-server failed; install redis-server or set WFE_TEST_VALKEY_URL"; return; }
  fi
  if ! redis_ping; then  # the package's init script may already have started it
    log "redis ... starting"
    (cd / && redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
       </dev/null >/dev/null 2>&1) || { fail redis "redis-server failed to start; install redis-server or set WFE_TEST_VALKEY_URL"; return; }
    for _ in $(seq 20); do redis_ping && break; sleep 0.5; done
  fi
  redis_ping || { fail redis "redis-server started but 127.0.0.1:6379 does not answer PING"; return; }
  log "redis ... started in $((SECONDS - t0))s"
  EXPORTS+=("WFE_TEST_VALKEY_URL=redis://127.0.0.1:6379/0")
}

# ---------------------------------------------------------------- OpenSearch
os_health() { curl -s -m 5 http://127.0.0.1:9200/_cluster/health 2>/dev/null | grep -Eq '"status" *: *"(green|yellow)"'; }
os_fetch_zip() { # download the integ-test-zip into $CACHE (curl first, Maven as fallback)
  local zip=$1 url="$MAVEN_BASE/org/opensearch/distribution/integ-test-zip/opensearch/$OS_VERSION/opensearch-$OS_VERSION.zip"
  [[ -s $zip ]] && unzip -tq "$zip" >/dev/null 2>&1 && return 0
  log "opensearch ... downloading $OS_GAV"
  if need curl curl && curl -fsSL --retry 3 -o "$zip.part" "$url" && unzip -tq "$zip.part" >/dev/null 2>&1; then
    mv -f "$zip.part" "$zip"; return 0
  fi
  rm -f "$zip.part"
  log "opensearch ... direct download failed; trying mvn dependency:copy"
  need mvn maven && (cd "$CACHE" && mvn -B -q -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
      -Dartifact="$OS_GAV" -DoutputDirectory="$CACHE" -Dmdep.overWriteReleases=true </dev/null >&2) && [[ -s $zip ]]
}
svc_opensearch() {
  local t0=$SECONDS home run_as="" java pid
  if os_health; then log "opensearch ... ok (reused)"; EXPORTS+=("WFE_TEST_OPENSEARCH_URL=opensearch://127.0.0.1:9200"); return; fi
  mkdir -p "$CACHE" || { fail opensearch "cannot create $CACHE; set WFE_SERVICES_DIR"; return; }
  home="$CACHE/opensearch-$OS_VERSION"
  if [[ $EUID -eq 0 ]]; then
    # OpenSearch refuses to run as root: use a system user, and a home it can reach
    # (the cache is usually under /root, which is mode 700).
    run_as=$OS_USER
    id "$OS_USER" >/dev/null 2>&1 || useradd --system --home-dir "/var/lib/$OS_USER" --create-home \
        --shell /usr/sbin/nologin "$OS_USER" || { fail opensearch "useradd $OS_USER failed"; return; }
    home="/var/lib/$OS_USER/opensearch-$OS_VERSION"
  fi
  local pidfile="$home/opensearch.pid" logf="$CACHE/opensearch.log"
  if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "opensearch ... already starting (pid $(cat "$pidfile")), waiting"
  else
    if ! command -v java >/dev/null 2>&1; then
      log "opensearch ... installing a JDK"
      apt_install openjdk-17-jre-headless || { fail opensearch "no java; install openjdk-17-jre-headless or set WFE_TEST_OPENSEARCH_URL"; return; }
    fi
    java=$(readlink -f "$(command -v java)")
    if [[ ! -x $home/bin/opensearch ]]; then
      need unzip unzip || { fail opensearch "unzip missing; install unzip or set WFE_TEST_OPENSEARCH_URL"; return; }
      local zip="$CACHE/opensearch-$OS_VERSION.zip" t1=$SECONDS
      os_fetch_zip "$zip" || { fail opensearch "could not download $OS_GAV from Maven Central; set WFE_TEST_OPENSEARCH_URL"; return; }
      log "opensearch ... have $(du -h "$zip" | cut -f1) zip in $((SECONDS - t1))s; unpacking"
      if ! { rm -rf "$home.tmp" && mkdir -p "$home.tmp" && unzip -q "$zip" -d "$home.tmp" &&
             mv "$home.tmp/opensearch-$OS_VERSION" "$home"; }; then
        fail opensearch "unpacking $zip failed"; return
      fi
      rm -rf "$home.tmp"
    fi
    [[ -z $run_as ]] || chown -R "$run_as:" "$home" || { fail opensearch "chown $home failed"; return; }
    log "opensearch ... starting $OS_VERSION with $java (log: $logf)"
    local cmd=(env OPENSEARCH_JAVA_HOME="${java%/bin/java}" OPENSEARCH_JAVA_OPTS="-Xms512m -Xmx512m"
      "$home/bin/opensearch" -p "$pidfile" -Ediscovery.type=single-node -Enetwork.host=127.0.0.1
      -Ehttp.port=9200 -Ecluster.name=wfe-test -Ecluster.routing.allocation.disk.threshold_enabled=false)
    # Fully detached: no inherited stdout/stderr, so `eval "$(...)"` and CI pipes see EOF.
    if [[ -n $run_as ]]; then
      (cd / && exec setsid runuser -u "$run_as" -- "${cmd[@]}" </dev/null >"$logf" 2>&1 &)
    else
      (cd / && exec setsid "${cmd[@]}" </dev/null >"$logf" 2>&1 &)
    fi
  fi
  while ((SECONDS - t0 < OS_TIMEOUT)); do
    os_health && break
    pid=$(cat "$pidfile" 2>/dev/null) || pid=""
    if ((SECONDS - t0 > 20)) && [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then break; fi
    if ((SECONDS - t0 > 30)) && [[ -z $pid ]] && ! pgrep -f "$home/lib" >/dev/null; then break; fi
    sleep 2
  done
  if ! os_health; then
    tail -n 20 "$logf" >&2 2>/dev/null
    fail opensearch "not healthy on 127.0.0.1:9200 after $((SECONDS - t0))s (log: $logf); set WFE_TEST_OPENSEARCH_URL or raise WFE_OPENSEARCH_TIMEOUT"
    return
  fi
  log "opensearch ... started in $((SECONDS - t0))s"
  EXPORTS+=("WFE_TEST_OPENSEARCH_URL=opensearch://127.0.0.1:9200")
}

# ---------------------------------------------------------------- Chromium
# The dashboard's browser test drives Debian's Chromium through Playwright, which is never let
# download a browser of its own (the machine's network is closed to it).
svc_chromium() {
  local t0=$SECONDS path
  path=$(command -v chromium 2>/dev/null || true)
  if [[ -n $path ]]; then log "chromium ... ok ($path)"; EXPORTS+=("WFE_TEST_CHROMIUM=$path"); return; fi
  [[ $HAVE_ROOT -eq 1 ]] || { fail chromium "not installed and no root/sudo to install it; install Debian's chromium or set WFE_TEST_CHROMIUM"; return; }
  log "chromium ... installing"
  apt_install chromium || { fail chromium "apt-get install chromium failed; install it or set WFE_TEST_CHROMIUM"; return; }
  path=$(command -v chromium 2>/dev/null) || { fail chromium "installed, but no chromium on PATH; set WFE_TEST_CHROMIUM"; return; }
  log "chromium ... installed in $((SECONDS - t0))s ($path)"
  EXPORTS+=("WFE_TEST_CHROMIUM=$path")
}

# ---------------------------------------------------------------- main
preset() { # preset NAME VAR: true (and re-exported) if VAR is already set
  [[ -n ${!2:-} ]] || return 1
  log "$1 ... ok (using $2 from the environment)"; EXPORTS+=("$2=${!2}")
}
preset postgres WFE_TEST_POSTGRES_URL || svc_postgres >&2
preset redis WFE_TEST_VALKEY_URL || svc_redis >&2
preset opensearch WFE_TEST_OPENSEARCH_URL || svc_opensearch >&2
preset chromium WFE_TEST_CHROMIUM || svc_chromium >&2
for kv in "${EXPORTS[@]}"; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; done
if ((${#MISSING[@]})); then
  log "unavailable: ${MISSING[*]}"
  ((REQUIRE)) && exit 1
fi
exit 0
