#!/bin/sh
# pilot-pki-bootstrap [CITY]: the one-shot PKI services of deploy/docker-compose.yml, installed
# in the image as /usr/local/bin/pilot-pki-bootstrap. Safe to run any number of times.
#
# Without CITY (service `pki`, which runs first):
#   `pilotctl pki init --out /pki`: creates the CA only when none exists, and issues the hub's,
#   the national centre's and the 22 pilot cities' certificates when missing; then copies the
#   hub its files (ca.pem, hub/, crl.pem) into the volume mounted at /tls/hub.
# With CITY (service `pki-CITY`, one per city, after `pki`):
#   issues the city's certificate when missing (`pilotctl pki init --cities CITY`, which keeps
#   everything else as it is), makes the city's API token /pki/tokens/CITY when missing (nodes
#   listen on 0.0.0.0 inside their containers, which the node's config allows only with
#   api_token_file), and copies the city its files (ca.pem, cities/CITY/, token) into the volume
#   mounted at /tls/CITY.
#
# NB: one service per city, so that adding a city adds services and changes none: compose then
# leaves the hub and every other node running.
#
# Nothing is ever overwritten in /pki (a certificate re-issued with `pilotctl pki issue` or
# revoked with `pilotctl pki revoke` stays as the operator left it). The copies are owned by the
# image's user `pilot` (this runs as root only for that chown); the CA key never leaves /pki,
# and no node can read another city's key or token. A copy is replaced by rename and only when
# it changed, so the hub, which re-reads crl.pem while running, never sees half of one.
set -eu

PKI=${PILOT_PKI_DIR:-/pki}
TLS=${PILOT_TLS_DIR:-/tls}
OWNER=${PILOT_OWNER:-pilot:pilot}

if [ "$#" -gt 1 ]; then
	echo "usage: pilot-pki-bootstrap [CITY]" >&2
	exit 64
fi
umask 077

# put SRC DEST MODE: DEST becomes a copy of SRC (or disappears with it), owned by $OWNER.
put() {
	if [ ! -e "$1" ]; then
		if [ -e "$2" ]; then
			rm -f "$2"
			echo "removed $2"
		fi
		return 0
	fi
	if [ -e "$2" ] && cmp -s "$1" "$2"; then
		return 0
	fi
	mkdir -p "$(dirname "$2")"
	cp "$1" "$2.tmp"
	chown "$OWNER" "$2.tmp"
	chmod "$3" "$2.tmp"
	mv -f "$2.tmp" "$2"
	echo "updated $2"
}

# target DIR: stops unless DIR (a service's volume) is mounted.
target() {
	if [ ! -d "$1" ]; then
		echo "pilot-pki-bootstrap: $1 is not mounted (see deploy/docker-compose.yml)" >&2
		exit 1
	fi
}
# own DIR: DIR and the directories in it belong to $OWNER, and only it may enter them.
own() {
	find "$1" -type d -exec chown "$OWNER" {} + -exec chmod 0700 {} +
}

if [ "$#" -eq 0 ]; then
	target "$TLS/hub"
	pilotctl pki init --out "$PKI"
	put "$PKI/ca.pem" "$TLS/hub/ca.pem" 0644
	put "$PKI/crl.pem" "$TLS/hub/crl.pem" 0644
	put "$PKI/hub/cert.pem" "$TLS/hub/hub/cert.pem" 0644
	put "$PKI/hub/key.pem" "$TLS/hub/hub/key.pem" 0600
	own "$TLS/hub"
	echo "pki ready for the hub"
	exit 0
fi

city=$1
dir="$TLS/$city"
target "$dir"
if [ ! -e "$PKI/ca.pem" ]; then
	echo "pilot-pki-bootstrap: no CA in $PKI yet; the pki service makes it first" >&2
	exit 1
fi
if [ ! -e "$PKI/cities/$city/cert.pem" ]; then
	pilotctl pki init --out "$PKI" --cities "$city"
fi
mkdir -p "$PKI/tokens"
token="$PKI/tokens/$city"
if [ ! -s "$token" ]; then
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token.tmp.$$"
	mv -f "$token.tmp.$$" "$token"
	echo "created the API token of $city in $token"
fi
put "$PKI/ca.pem" "$dir/ca.pem" 0644
put "$PKI/cities/$city/cert.pem" "$dir/cities/$city/cert.pem" 0644
put "$PKI/cities/$city/key.pem" "$dir/cities/$city/key.pem" 0600
put "$token" "$dir/token" 0600
own "$dir"
echo "pki ready for $city"
