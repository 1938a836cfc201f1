#!/bin/sh
# Run every cmocka unit-test binary given; fail if any fails.  Prints one
# closing line "N passed, N failed" over all binaries.
pass=0; fail=0
for t in "$@"; do
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t"; fi
done
echo "unit test binaries: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
