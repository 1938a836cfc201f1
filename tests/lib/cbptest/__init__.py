"""cbptest: the one library that builds test inputs for cbpscan.

Used by the end-to-end tests (tests/cli), the fuzz seed generators
(tests/fuzz/gen_*_seeds.py) and the benchmark tree (bench/mktree.sh):

  cbptest.formats   byte-level builders: JPEG segments, PNG chunks, JP2
                    boxes, TIFF/Exif IFDs, BER-TLV, ANSI/NIST tagged records.
                    Standard library only, so a generator that needs no
                    pictures needs no Pillow.
  cbptest.fixtures  whole fixtures on top of them: pictures with a plate
                    read in each carrier, biometric records, archives, the
                    sample and benchmark trees.  Run as a script for the
                    trees (python3 -m cbptest.fixtures --help).

Put tests/lib on sys.path (conftest.py and the generators do) and import
from here; do not copy a builder into a test.
"""
