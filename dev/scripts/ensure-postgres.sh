#!/bin/sh
# ensure-postgres.sh: make sure PostgreSQL server binaries (initdb, pg_ctl,
# postgres) are installed, as used by pglocal and internal/pgtest.
#
# Idempotent: does nothing if /usr/lib/postgresql/*/bin/initdb exists.
# Otherwise installs Debian's postgresql package with apt-get (as root, or
# through sudo when not root). It never starts a server; note that the Debian
# package itself creates and starts a "main" cluster on port 5432, which
# Tower's local server (unix socket only) does not conflict with.
set -eu

found=""
for initdb in /usr/lib/postgresql/*/bin/initdb; do
	if [ -x "$initdb" ]; then
		found="$initdb"
	fi
done
if [ -n "$found" ]; then
	echo "ensure-postgres: PostgreSQL server binaries present ($(dirname "$found")); nothing to do."
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "ensure-postgres: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin and no apt-get;" >&2
	echo "ensure-postgres: install PostgreSQL with your package manager and set TOWER_PG_BIN to the directory holding initdb, pg_ctl and postgres." >&2
	exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
	as_root=""
elif command -v sudo >/dev/null 2>&1; then
	as_root="sudo"
else
	echo "ensure-postgres: PostgreSQL is not installed and installing it needs root; run as root: apt-get update && apt-get install -y postgresql" >&2
	exit 1
fi

echo "ensure-postgres: PostgreSQL server binaries not found; installing Debian's postgresql package${as_root:+ (via sudo)}."
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql

for initdb in /usr/lib/postgresql/*/bin/initdb; do
	if [ -x "$initdb" ]; then
		echo "ensure-postgres: installed PostgreSQL server binaries in $(dirname "$initdb")."
		exit 0
	fi
done
echo "ensure-postgres: apt-get install -y postgresql finished but no /usr/lib/postgresql/*/bin/initdb exists." >&2
exit 1
