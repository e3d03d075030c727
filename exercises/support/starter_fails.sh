#!/usr/bin/env bash
# The CTest exNN_name.starter_fails: proves an exercise is one, by running
# its tests against the untouched starter and passing only if they fail.
#   starter_fails.sh STARTER_SOURCE TEST_BINARY STARTER_PROGRAM [TEST_OPTION...]
# Exit 77 (CTest's "skipped") when the learner has edited the starter, or
# when there is no git checkout to tell: work in progress is not a failure.
set -u
source=$1 tests=$2 starter=$3
shift 3
folder=$(dirname "$source")
if ! git -C "$folder" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "skipped: no git checkout, so no way to tell whether the starter was edited"
  exit 77
fi
if ! git -C "$folder" diff --quiet HEAD -- "$(basename "$source")"; then
  echo "skipped: the starter $source has been edited (git diff HEAD shows a change)"
  exit 77
fi
# --gtest_fail_fast: one failure proves the point, and the starter's failures
# are mostly waits that run out.
"$tests" "$starter" --gtest_brief=1 --gtest_fail_fast "$@"
status=$?
case $status in
  0) echo "FAILED: every test passed against the starter; it should leave work to do"; exit 1 ;;
  1) echo "ok: the tests fail against the starter, as they should"; exit 0 ;;
  *) echo "FAILED: the test binary itself ended with status $status"; exit 1 ;;
esac
