# Shared by the integration suites (sourced, not run): the PASS/FAIL/SKIP
# bookkeeping every check reports through, and free loopback ports.

PASSED=0
FAILED=0
SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP $*"; }
indent() { sed 's/^/    | /'; }

# free_ports N: N free ports from $PGTANDEM_TEST_PORTS (default 20000-32000)
free_ports() {
    /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/free_ports.py" \
        "${PGTANDEM_TEST_PORTS:-20000-32000}" "$1"
}
