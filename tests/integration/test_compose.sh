# docker-compose.yml is valid (checked with Debian's docker-compose when it
# is installed; skipped otherwise) and names every service.
. tests/integration/lib.sh
for s in postgres $SERVICES; do
  grep -q "^  $s:" docker-compose.yml || fail "docker-compose.yml lacks $s"
done
if command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f docker-compose.yml config -q || fail "docker-compose config"
  ok "docker-compose config"
else
  echo "docker-compose not installed: only the service list was checked"
  exit 77
fi
echo PASS
