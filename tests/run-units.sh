#!/bin/sh
# Run every cmocka unit-test binary given; fail if any fails.  Prints one
# closing line "N passed, N failed" over all binaries.
#
# Under make (CBP_TEST_STRICT set) the reference data must be there: tests
# that need it would otherwise skip, and a check that passes by skipping
# proves nothing.  Say so once, plainly, before running anything.
if [ -n "${CBP_TEST_STRICT:-}" ]; then
	data=${CBP_TESTDATA:-../shared/testdata}
	if [ ! -d "$data" ]; then
		echo "unit tests: reference data not found at $data" >&2
		echo "unit tests: check out ../shared/testdata or set CBP_TESTDATA;" \
		    "tests that need it fail rather than skip under make" >&2
		exit 1
	fi
fi
pass=0; fail=0
for t in "$@"; do
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t"; fi
done
echo "unit test binaries: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
