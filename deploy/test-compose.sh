#!/usr/bin/env bash
# deploy/test-compose.sh: the Compose deployment, tested in real containers (issue 6).
#
# No Docker engine runs on these machines, but podman does. This script:
#  1. installs podman, docker-compose (Debian's, 1.29), debootstrap, runc, jq and curl with apt-get if
#     missing, and runs podman as root with its own containers.conf (`default_ulimits = []`, and
#     runc, because crun refuses this kernel's hybrid cgroup layout);
#  2. starts `podman system service` on a socket of its own and points docker-compose at it
#     with DOCKER_HOST;
#  3. builds a local debian:bookworm-slim with `debootstrap --variant=minbase bookworm` and
#     `podman import` when podman has none (the rootfs tarball is cached in $PILOT_CACHE_DIR,
#     default /var/cache/pilotnet, so this costs about a minute once per machine);
#  4. builds the image from deploy/Dockerfile, target runtime-prebuilt, with the binaries of
#     `cargo build --workspace --bins --locked` (debug): scripts/test has just built exactly those
#     for the end-to-end tests, so the image costs no compilation, where a release build would
#     add many minutes on 2 cores. Dependencies are optimised in the dev profile anyway;
#  5. checks that deploy/docker-compose.yml is what `pilotctl compose` makes of deploy/cities.txt,
#     runs `docker-compose up -d` on it (the hub and every city), and waits for every healthcheck;
#  6. imports CSL-derived demands into the first city and achievements into the second through
#     their published intake ports, and waits for the cross-city match at the hub (national
#     certificate copied out of the pki volume) and at the demand's node;
#  7. `docker-compose restart hub` and checks that the hub's per-city counts, digests and matches
#     are what they were;
#  8. adds a city the way deploy/README.md says (one line in the cities list, `pilotctl compose`,
#     `docker-compose up -d`), checks that its record reaches the hub and that neither the hub
#     nor another node was restarted; then revokes it as the README says and sees the running
#     hub list it as revoked;
#  9. `docker-compose down -v`, and removes everything it started: the health driver, every
#     container, volume and network of its compose project, its image, the podman service and
#     its work directory. The same cleanup runs on failure and on Ctrl-C.
#
# NB: podman 4.3 runs healthchecks from systemd timers, and there is no systemd here, so a small
# loop runs `podman healthcheck run` on the project's containers every 2 s; docker-compose then
# sees health exactly as a Docker engine would report it.
#
# Skips (exit 0, printing a SKIPPED line) without root, without apt-get when a tool is missing,
# or with PILOT_SKIP_COMPOSE=1. PILOT_BIN_DIR picks other binaries (e.g. target/release).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

skip() {
	echo "SKIPPED deploy/test-compose.sh: $*"
	exit 0
}
[[ ${PILOT_SKIP_COMPOSE:-0} != 1 ]] || skip "PILOT_SKIP_COMPOSE=1"
[[ $(id -u) -eq 0 ]] || skip "podman runs rootful here and is installed with apt-get: run as root"
MISSING=() # Debian packages
for pair in podman:podman docker-compose:docker-compose debootstrap:debootstrap runc:runc \
	jq:jq curl:curl ss:iproute2; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || MISSING+=("${pair#*:}")
done
if ((${#MISSING[@]})) && ! command -v apt-get >/dev/null 2>&1; then
	skip "${MISSING[*]} missing and no apt-get to install them"
fi

# ---- timings ----
T0=$SECONDS
PHASE=""
PHASE_START=$SECONDS
TIMINGS=()
phase() {
	local now=$SECONDS
	if [[ -n $PHASE ]]; then
		TIMINGS+=("$(printf '%-58s %4ds' "$PHASE" $((now - PHASE_START)))")
	fi
	PHASE=$1
	PHASE_START=$now
	[[ -z $PHASE ]] || printf '\n== [%3ds] %s\n' $((now - T0)) "$PHASE"
}
fail() {
	echo "FAILED: $*" >&2
	exit 1
}

# ---- what this run owns, for cleanup ----
WORK=$(mktemp -d /tmp/pilot-compose.XXXXXX)
PROJECT="pilotnet-test-$$"
IMAGE="localhost/pilotnet:test-compose-$$"
BASE_IMAGE="docker.io/library/debian:bookworm-slim"
CACHE_DIR=${PILOT_CACHE_DIR:-/var/cache/pilotnet}
COMPOSE_FILE=deploy/docker-compose.yml
SERVICE_PID=""
HEALTH_PID=""
COMPOSE_STARTED=0
IMAGE_BUILT=0
LABEL="label=com.docker.compose.project=$PROJECT"

export PILOTNET_IMAGE=$IMAGE
export CONTAINERS_CONF=$WORK/containers.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []

[engine]
# crun 1.8 refuses a cgroup v1 host with controllers also on cgroup v2 ("hybrid mode").
runtime = "runc"
EOF
export DOCKER_HOST=unix://$WORK/podman.sock
# 22 containers starting at once on 2 cores can keep the API busy for longer than 60 s.
export COMPOSE_HTTP_TIMEOUT=300
COMPOSE=(docker-compose --ansi never -p "$PROJECT" -f "$COMPOSE_FILE")

# Runs docker-compose, showing its output without the per-container progress lines.
compose_quietly() {
	local rc=0
	"${COMPOSE[@]}" "$@" >"$WORK/compose.log" 2>&1 || rc=$?
	grep -vE '^((Creating|Starting|Stopping|Removing|Restarting) [[:alnum:]_-]+ +\.\.\.|(Creating|Removing) volume )' \
		"$WORK/compose.log" || true
	((rc == 0)) || fail "docker-compose $* exited with $rc"
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	phase "cleanup"
	if ((rc != 0 && COMPOSE_STARTED)); then
		echo "--- diagnostics (exit $rc)"
		"${COMPOSE[@]}" ps 2>&1 | tail -n 30
		for c in $(podman ps -aq --filter "$LABEL" 2>/dev/null); do
			local state
			state=$(podman inspect --format '{{.Name}} {{.State.Status}} {{.State.Health.Status}}' "$c" 2>/dev/null)
			case $state in
			*" running healthy" | *_pki[_-]*" exited "*) ;;
			*)
				echo "--- $state: last log lines"
				podman logs --tail 20 "$c" 2>&1
				;;
			esac
		done
	fi
	if [[ -n $HEALTH_PID ]]; then
		pkill -TERM -P "$HEALTH_PID" 2>/dev/null
		kill "$HEALTH_PID" 2>/dev/null
		wait "$HEALTH_PID" 2>/dev/null
	fi
	if ((COMPOSE_STARTED)); then
		timeout 180 "${COMPOSE[@]}" down -v --remove-orphans -t 30 >"$WORK/down.log" 2>&1 ||
			tail -n 20 "$WORK/down.log"
	fi
	if [[ -n $SERVICE_PID ]]; then
		# Whatever compose could not remove (it failed, or was never reached).
		podman ps -aq --filter "$LABEL" | xargs -r podman rm -f -t 5 >/dev/null 2>&1
		podman volume ls -q --filter "$LABEL" | xargs -r podman volume rm -f >/dev/null 2>&1
		podman network ls -q --filter "$LABEL" | xargs -r podman network rm -f >/dev/null 2>&1
		if ((IMAGE_BUILT)); then
			podman rmi -f "$IMAGE" >/dev/null 2>&1
		fi
		kill "$SERVICE_PID" 2>/dev/null
		wait "$SERVICE_PID" 2>/dev/null
	fi
	rm -rf "$WORK"
	phase ""
	echo
	echo "timings:"
	printf '  %s\n' "${TIMINGS[@]}"
	printf '  %-58s %4ds\n' "total" $((SECONDS - T0))
	if ((rc == 0)); then
		echo "PASSED deploy/test-compose.sh"
	else
		echo "FAILED deploy/test-compose.sh (exit $rc)"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. tools ----
phase "install tools (${MISSING[*]:-none missing})"
if ((${#MISSING[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q "${MISSING[@]}" >"$WORK/apt.log" 2>&1 || {
		tail -n 20 "$WORK/apt.log"
		fail "apt-get install ${MISSING[*]}"
	}
fi
podman --version
docker-compose version --short

# ---- 2. podman service ----
phase "start podman system service"
podman system service --time=0 "$DOCKER_HOST" >"$WORK/podman-service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 100); do
	curl -sf --unix-socket "$WORK/podman.sock" http://d/_ping >/dev/null 2>&1 && break
	kill -0 "$SERVICE_PID" 2>/dev/null || fail "podman system service exited: $(cat "$WORK/podman-service.log")"
	sleep 0.1
done
curl -sf --unix-socket "$WORK/podman.sock" http://d/_ping >/dev/null || fail "podman service does not answer"

# ---- 3. base image ----
phase "base image $BASE_IMAGE"
if podman image exists "$BASE_IMAGE"; then
	echo "present"
else
	tarball=$CACHE_DIR/debian-bookworm-minbase.tar
	if [[ ! -s $tarball ]]; then
		mkdir -p "$CACHE_DIR"
		echo "debootstrap --variant=minbase bookworm (cached in $tarball)"
		debootstrap --variant=minbase bookworm "$WORK/rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
			>"$WORK/debootstrap.log" 2>&1 || {
			tail -n 20 "$WORK/debootstrap.log"
			fail "debootstrap"
		}
		# What the official -slim image leaves out.
		rm -rf "$WORK/rootfs"/var/cache/apt/archives/*.deb "$WORK/rootfs"/var/lib/apt/lists/* \
			"$WORK/rootfs"/usr/share/doc/* "$WORK/rootfs"/usr/share/man/* "$WORK/rootfs"/usr/share/info/*
		tar -C "$WORK/rootfs" -cf "$tarball.tmp" .
		mv "$tarball.tmp" "$tarball"
		rm -rf "$WORK/rootfs"
	fi
	podman import --change 'CMD ["bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
	echo "imported from $tarball"
fi

# ---- 4. binaries and image ----
phase "cargo build --workspace --bins --locked"
cargo build --workspace --bins --locked --quiet
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
BIN_DIR=${PILOT_BIN_DIR:-$TARGET_DIR/debug}
PILOTCTL=$BIN_DIR/pilotctl
for b in pilot-hub pilot-node pilotctl; do
	[[ -x $BIN_DIR/$b ]] || fail "$BIN_DIR/$b not found"
done

phase "build image (deploy/Dockerfile --target runtime-prebuilt)"
mkdir -p "$WORK/context/bin" "$WORK/context/deploy"
cp "$BIN_DIR/pilot-hub" "$BIN_DIR/pilot-node" "$BIN_DIR/pilotctl" "$WORK/context/bin/"
cp deploy/pki-bootstrap.sh "$WORK/context/deploy/"
IMAGE_BUILT=1
podman build --pull=never -q -f deploy/Dockerfile --target runtime-prebuilt -t "$IMAGE" "$WORK/context" >/dev/null
echo "$IMAGE: $(podman image inspect --format "{{.Size}}" "$IMAGE" | numfmt --to=iec) with $(basename "$BIN_DIR") binaries from $BIN_DIR"
[[ $(podman run --rm "$IMAGE" id -u) == 10001 ]] || fail "the image does not run as uid 10001"

# ---- 5. up ----
phase "check $COMPOSE_FILE is current"
"$PILOTCTL" compose --cities deploy/cities.txt --out "$COMPOSE_FILE" --check
mapfile -t CITIES < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' deploy/cities.txt | grep -v '^$')
N=${#CITIES[@]}
A=${CITIES[0]}
B=${CITIES[1]}
PORT_A=7601
PORT_B=7602
mapfile -t PORTS < <(grep -oE '^      - "(127\.0\.0\.1:)?[0-9]+' "$COMPOSE_FILE" | grep -oE '[0-9]+$')
for p in "${PORTS[@]}"; do
	if [[ -n $(ss -Hltn "sport = :$p") ]]; then
		fail "host port $p is in use (a devnet or another deployment?); the compose file publishes it"
	fi
done

# Drives the healthchecks that podman would run from systemd timers (see the top of the file).
(
	while :; do
		for c in $(podman ps -q --filter "$LABEL" 2>/dev/null); do
			podman healthcheck run "$c" >/dev/null 2>&1 &
		done
		wait
		sleep 2
	done
) 2>/dev/null &
HEALTH_PID=$!

phase "docker-compose up -d (pki, hub, pki-CODE and node-CODE for $N cities)"
COMPOSE_STARTED=1
compose_quietly up -d
[[ $(podman ps -aq --filter "$LABEL" | wc -l) -eq $((2 * N + 2)) ]] || fail "expected $((2 * N + 2)) containers"

phase "wait for $((N + 1)) healthchecks"
deadline=$((SECONDS + 240))
while :; do
	healthy=0
	bad=""
	for c in $(podman ps -aq --filter "$LABEL"); do
		read -r name status health < <(podman inspect --format '{{.Name}} {{.State.Status}} {{.State.Health.Status}}' "$c")
		case "$name $status $health" in
		*_pki[_-]*" exited "*) ;;
		*" running healthy") healthy=$((healthy + 1)) ;;
		*" running unhealthy") bad="$bad $name:unhealthy" ;;
		*" running "*) ;;
		*) bad="$bad $name:$status" ;;
		esac
	done
	[[ -z $bad ]] || fail "containers down or unhealthy:$bad"
	((healthy == N + 1)) && break
	((SECONDS < deadline)) || fail "only $healthy of $((N + 1)) services healthy after 240 s"
	sleep 2
done
echo "$healthy services healthy"
for c in $(podman ps -aq --filter "$LABEL" --filter status=exited); do
	read -r name code < <(podman inspect --format '{{.Name}} {{.State.ExitCode}}' "$c")
	[[ $code == 0 ]] || fail "$name exited with $code"
done

phase "check isolation, users and JSON logs"
PKI_VOLUME=$(podman volume inspect --format '{{.Mountpoint}}' "${PROJECT}_pki")
mkdir -p "$WORK/pki"
cp -a "$PKI_VOLUME/ca.pem" "$PKI_VOLUME/national" "$PKI_VOLUME/tokens" "$WORK/pki/"
node_a=$(podman ps -q --filter "$LABEL" --filter "label=com.docker.compose.service=node-$A")
hub=$(podman ps -q --filter "$LABEL" --filter "label=com.docker.compose.service=hub")
[[ $(podman exec "$node_a" id -u) == 10001 ]] || fail "node-$A does not run as uid 10001"
podman exec "$node_a" sh -c "test ! -e /pki/ca.key && test ! -e /pki/cities/$B && test -r /pki/token" ||
	fail "node-$A sees more of the PKI than its own certificate, key and token"
podman exec "$hub" sh -c 'test ! -e /pki/ca.key && test ! -e /pki/cities' ||
	fail "the hub sees more of the PKI than its own certificate and key"
podman logs "$hub" >"$WORK/hub.log" 2>&1
podman logs "$node_a" >"$WORK/node.log" 2>&1
jq -e -c '{level, message: .fields.message}' "$WORK/hub.log" | head -n 3
jq -e . "$WORK/hub.log" >/dev/null || fail "the hub's log is not JSON lines"
jq -e . "$WORK/node.log" >/dev/null || fail "node-$A's log is not JSON lines"
"$PILOTCTL" health 127.0.0.1:$PORT_A
"$PILOTCTL" health --pki "$WORK/pki" --as national 127.0.0.1:7443
if "$PILOTCTL" health 127.0.0.1:7443 2>"$WORK/health.err"; then
	fail "pilotctl health without --pki succeeded against the hub's TLS port"
fi
grep -q -- "pass --pki" "$WORK/health.err" || fail "unexpected message: $(cat "$WORK/health.err")"
echo "as expected, without --pki: $(cat "$WORK/health.err")"

# ---- 6. records in two cities, a match across them ----
phase "import CSL demands into $A, achievements into $B"
CSL=${PILOT_SHARED_DATA:-$ROOT/../shared/data}/csl/csl_merged.jsonl
[[ -s $CSL ]] || fail "$CSL not found (the shared data set beside the checkout)"
jq -c -n 'limit(20; inputs | select(.title != null and (.keywords | length) > 2 and .discipline != null))' \
	"$CSL" >"$WORK/papers.jsonl"
jq -c '{external_id: (.id + "/demand"), enterprise_name: "咸宁华创科技有限公司",
	contact_name: "张建国", phone: "13800000017", email: "demand@example.com",
	title: ("寻求" + .title + "相关技术"),
	description: ("本企业希望引进与“" + .title + "”相关的技术成果，重点关注：" + (.keywords | join("、")) + "。"),
	field: .discipline, budget_cny: 800000, cooperation_modes: ["license"]}' \
	"$WORK/papers.jsonl" >"$WORK/csl-demands.jsonl"
jq -c '{external_id: (.id + "/achievement"), institution: "示范研究院第一研究所",
	contact_name: "李秀英", email: "tto@example.com", title: .title, abstract: .abstract,
	keywords: .keywords, field: .discipline, trl: 6, cooperation_modes: ["license", "transfer"],
	price_max_cny: 900000}' \
	"$WORK/papers.jsonl" >"$WORK/csl-achievements.jsonl"
rows=$(wc -l <"$WORK/papers.jsonl")
for spec in "$A:$PORT_A:csl-demands" "$B:$PORT_B:csl-achievements"; do
	IFS=: read -r city port file <<<"$spec"
	"$PILOTCTL" import --node "127.0.0.1:$port" --token-file "$WORK/pki/tokens/$city" --json \
		"$WORK/$file.jsonl" >"$WORK/$file.report.json"
	jq -e --argjson n "$rows" '.created + .updated + .unchanged == $n and .rejected == 0' \
		"$WORK/$file.report.json" >/dev/null || fail "import into $city: $(cat "$WORK/$file.report.json")"
	echo "$city: $(jq -c '{kind, created, updated, unchanged, rejected}' "$WORK/$file.report.json")"
done
if "$PILOTCTL" import --node "127.0.0.1:$PORT_A" "$WORK/csl-demands.jsonl" >/dev/null 2>&1; then
	fail "node-$A accepted an import without its token"
fi

phase "wait for the $A -> $B match at the hub and at node-$A"
hub_matches() {
	"$PILOTCTL" matches --hub 127.0.0.1:7443 --pki "$WORK/pki" --city "$A" --counterpart-city "$B" \
		--limit 1000 --json
}
deadline=$((SECONDS + 120))
until [[ $(hub_matches 2>/dev/null | jq length) -gt 0 ]]; do
	((SECONDS < deadline)) || fail "no $A -> $B match at the hub after 120 s"
	sleep 2
done
echo "hub: $(hub_matches | jq length) matches of $A demands with $B counterparts, e.g.:"
hub_matches | jq -c '.[0] | {subject: .subject.city, counterpart: .counterpart.city, kind: .counterpart.kind, score}'
node_matches() {
	"$PILOTCTL" matches --node "127.0.0.1:$PORT_A" --token-file "$WORK/pki/tokens/$A" --limit 1000 --json |
		jq --arg b "$B" '[.[] | select(any(.matches[]; .counterpart.city == $b))]'
}
until [[ $(node_matches 2>/dev/null | jq length) -gt 0 ]]; do
	((SECONDS < deadline)) || fail "node-$A shows no match with $B after 120 s"
	sleep 2
done
echo "node-$A: $(node_matches | jq length) of its demands have counterparts in $B, e.g.:"
node_matches | jq -c '.[0] | {external_id, title, counterpart: .matches[0].counterpart.city}'

# ---- 7. restart the hub, lose nothing ----
phase "docker-compose restart hub"
hub_state() {
	"$PILOTCTL" status --hub 127.0.0.1:7443 --pki "$WORK/pki" --json |
		jq -c --arg a "$A" --arg b "$B" '{total: .total_summaries, cities: [.cities[]
			| select(.city == $a or .city == $b)
			| {city, demands, achievements, experts, acked_seq, digest, lag}]}'
}
hub_pairs() {
	hub_matches | jq -c '[.[] | [.subject.pseudonym, .counterpart.city, .counterpart.pseudonym]] | sort'
}
deadline=$((SECONDS + 60))
until hub_state | jq -e --argjson n "$rows" \
	'[.cities[] | select(.lag == 0 and .demands + .achievements == $n)] | length == 2' >/dev/null; do
	((SECONDS < deadline)) || fail "the hub did not catch up with $A and $B: $(hub_state)"
	sleep 2
done
before=$(hub_state)
pairs_before=$(hub_pairs)
started_before=$(podman inspect --format '{{.State.StartedAt}}' "$hub")
echo "before: $before"
compose_quietly restart -t 30 hub
deadline=$((SECONDS + 90))
until [[ $(podman inspect --format '{{.State.Health.Status}}' "$hub") == healthy ]] &&
	"$PILOTCTL" health --pki "$WORK/pki" 127.0.0.1:7443 >/dev/null 2>&1; do
	((SECONDS < deadline)) || fail "the hub is not healthy 90 s after its restart"
	sleep 1
done
[[ $(podman inspect --format '{{.State.StartedAt}}' "$hub") != "$started_before" ]] ||
	fail "the hub container was not restarted"
after=$(hub_state)
echo "after:  $after"
[[ $after == "$before" ]] || fail "the hub's state changed across its restart"
[[ $(hub_pairs) == "$pairs_before" ]] || fail "the hub's matches changed across its restart"
echo "nothing lost: counts, digests, acknowledged sequences and $(jq length <<<"$pairs_before") matches equal"

# ---- 8. add a city: one line, one command ----
NEW_CITY=420600 # Xiangyang, not a pilot city
phase "add city $NEW_CITY: one line in cities.txt, pilotctl compose, up -d"
mkdir -p "$WORK/deploy"
cp deploy/cities.txt "$WORK/deploy/cities.txt"
echo "$NEW_CITY  # Xiangyang 襄阳市" >>"$WORK/deploy/cities.txt"
"$PILOTCTL" compose --cities "$WORK/deploy/cities.txt" --out "$WORK/deploy/docker-compose.yml"
# The same project directory as before (deploy/), so that ./config/*.toml are the same files.
COMPOSE=(docker-compose --ansi never -p "$PROJECT" --project-directory "$ROOT/deploy"
	-f "$WORK/deploy/docker-compose.yml")
NEW_PORT=$((7601 + N))
started() { podman inspect --format '{{.State.StartedAt}}' "$1" 2>/dev/null || echo gone; }
hub_started=$(started "$hub")
node_a_started=$(started "$node_a")
compose_quietly up -d
deadline=$((SECONDS + 120))
until "$PILOTCTL" health "127.0.0.1:$NEW_PORT" >/dev/null 2>&1; do
	((SECONDS < deadline)) || fail "node-$NEW_CITY is not serving on 127.0.0.1:$NEW_PORT after 120 s"
	sleep 1
done
[[ $(started "$hub") == "$hub_started" ]] || fail "adding a city restarted or recreated the hub"
[[ $(started "$node_a") == "$node_a_started" ]] || fail "adding a city restarted or recreated node-$A"
head -n 1 "$WORK/csl-demands.jsonl" >"$WORK/new-demands.jsonl"
"$PILOTCTL" import --node "127.0.0.1:$NEW_PORT" --token-file "$PKI_VOLUME/tokens/$NEW_CITY" \
	"$WORK/new-demands.jsonl"
deadline=$((SECONDS + 60))
until "$PILOTCTL" status --hub 127.0.0.1:7443 --pki "$WORK/pki" --json |
	jq -e --arg c "$NEW_CITY" 'any(.cities[]; .city == $c and .demands == 1)' >/dev/null; do
	((SECONDS < deadline)) || fail "the hub has no demand from $NEW_CITY after 60 s"
	sleep 1
done
echo "node-$NEW_CITY serves on 127.0.0.1:$NEW_PORT, its demand reached the hub, and the hub and node-$A kept running"

phase "revoke city $NEW_CITY: pilotctl pki revoke in the pki service, then run pki"
revoked=$("${COMPOSE[@]}" run --rm -T pki pilotctl pki revoke --out /pki --city "$NEW_CITY")
echo "${revoked%%$'\n'*}"
"${COMPOSE[@]}" run --rm -T pki >/dev/null
deadline=$((SECONDS + 30))
until "$PILOTCTL" status --hub 127.0.0.1:7443 --pki "$WORK/pki" --json |
	jq -e --arg c "$NEW_CITY" 'any(.cities[]; .city == $c and .revoked)' >/dev/null; do
	((SECONDS < deadline)) || fail "the hub does not list $NEW_CITY as revoked after 30 s"
	sleep 1
done
echo "the running hub lists $NEW_CITY as revoked"

# ---- 9. down ----
phase "docker-compose down -v"
compose_quietly down -v -t 30
COMPOSE_STARTED=0
left=$(
	podman ps -aq --filter "$LABEL"
	podman volume ls -q --filter "$LABEL"
)
[[ -z $left ]] || fail "down -v left containers or volumes: $left"
echo "no containers or volumes left"
