#!/usr/bin/python3
"""Seeds of tests/fuzz/fuzz_pdfimg.c (and the PNM decoder's header-form
seed): small PDFs written by hand with FlateDecode images.  Run from
anywhere; deterministic."""
import os
import zlib

here = os.path.dirname(os.path.abspath(__file__))
W = H = 20


def pixels(ch):
    return bytes((x * 7 + y * 13 + c * 50) & 0xff
                 for y in range(H) for x in range(W) for c in range(ch))


def up_rows(raw, rb):
    out, prev = bytearray(), bytes(rb)
    for y in range(H):
        r = raw[y * rb:(y + 1) * rb]
        out.append(2)
        out.extend((a - b) & 0xff for a, b in zip(r, prev))
        prev = r
    return bytes(out)


def pdf(objs):
    out = b"%PDF-1.5\n"
    for num, body in objs:
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    return out + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"


def stream(d, data):
    return d + b"\nstream\n" + data + b"\nendstream"


def main():
    seeds = os.path.join(here, "seeds", "fuzz_pdfimg")
    os.makedirs(seeds, exist_ok=True)
    rgb = zlib.compress(pixels(3))
    grey = zlib.compress(up_rows(pixels(1), W))
    img = b"/Subtype /Image /Width %d /Height %d /BitsPerComponent 8 /Filter /FlateDecode " % (W, H)
    with open(os.path.join(seeds, "rgb-direct.pdf"), "wb") as f:
        f.write(pdf([(5, stream(b"<< " + img + b"/ColorSpace /DeviceRGB /Length %d >>" % len(rgb), rgb))]))
    with open(os.path.join(seeds, "grey-png-indirect.pdf"), "wb") as f:
        f.write(pdf([(5, stream(b"<<" + img + b"/ColorSpace/DeviceGray/DecodeParms[<</Predictor 15"
                                b"/Columns %d>>]/Length 6 0 R>>" % W, grey)),
                     (6, b"%d" % len(grey))]))
    with open(os.path.join(seeds, "iccbased.pdf"), "wb") as f:
        f.write(pdf([(7, stream(b"<< /N 3 /Length 4 >>", b"icc3")),
                     (5, stream(b"<< " + img + b"/ColorSpace [/ICCBased 7 0 R] /Length %d >>" % len(rgb), rgb))]))
    pnm = os.path.join(here, "seeds", "fuzz_decode_pnm")
    os.makedirs(pnm, exist_ok=True)
    with open(os.path.join(pnm, "maxval15.pgm"), "wb") as f:
        f.write(b"P5 # comment\n# another\r\n 4\t4 15\n" + bytes(range(16)))


if __name__ == "__main__":
    main()
