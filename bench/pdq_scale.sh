#!/bin/sh
# How far libjpeg's DCT scaling moves PDQ hashes, and what it saves: for the
# JPEGs of ../shared/testdata/{pdq,plates,faces}, the Hamming distance to
# the full-scale hash and the decode+hash time ratio at each min-side
# setting (full, 512, 256, 128, 64).  See bench/pdq_scale.c.
#
#   sh bench/pdq_scale.sh [REPEAT]       (REPEAT: timing runs per file, default 3)
#
# The scales are 1/2, 1/4, 1/8 only (see jpeg_scale in scanner/decode.c).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
data=${CBP_TESTDATA:-$top/../shared/testdata}
rep=${1:-3}
cd "$top"
make -s build/libcbp.a
out=build/pdq_scale
pc="libjpeg spng libtiff-4 libopenjp2 libwebp libgif"
# Same floating-point rules as the library (see scanner/pdq.c): C11, no -march.
cc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude -D_GNU_SOURCE $(pkg-config --cflags $pc) \
	-o "$out" bench/pdq_scale.c build/libcbp.a $(pkg-config --libs $pc) -pthread -lm
echo "data: $data; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
find "$data/pdq" "$data/plates" "$data/faces" -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) \
	-print | sort | tr '\n' '\0' | xargs -0 "$out" -r "$rep"
