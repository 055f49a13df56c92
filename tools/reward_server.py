#!/usr/bin/env python3
"""A minimal reward server in flowtune's (Flow-Factory's) remote-reward protocol.

    python3 tools/reward_server.py --port 8700            # serves the example reward below
    go run ./cmd/finetune ... -reward myreward@http://127.0.0.1:8700

Fill in score() with your model (PickScore, OCR, GenEval, ...), or keep this file as it is
and pass your own function: reward_server.main(scorer=my_score); docs/reward-models.md shows
PickScore with transformers. The rest is the protocol, standard library only:

    GET  /health   200 {"status": "ok", "reward": NAME}
    POST /compute  {"prompt": [str, ...], "image": [base64 PNG, ...],
                    "metadata": [object or null, ...]   (optional: the prompts' metadata)}
                   -> 200 {"rewards": [float, ...]}, one per image, in order
                   or 4xx/5xx {"error": "..."}

Safety: binds to 127.0.0.1 unless --host says otherwise; only application/json bodies; bodies
over --max-body-mb are refused (413) without being parsed or kept; every PNG's header is checked before
it is decoded, and images wider or taller than --max-side are refused (400). A failing score()
answers 500 with the exception's message. Images reach score() as PIL images when Pillow is
installed, else as (width, height, rgb_bytes) tuples decoded by the small PNG reader below.
"""
import argparse
import base64
import binascii
import json
import math
import struct
import sys
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = "example"


def score(prompts, images, metadata):
    """Returns one float per image: higher is better. Replace this with your reward model.

    prompts:  list of str, one per image
    images:   list of PIL.Image (RGB) if Pillow is installed, else (width, height, rgb_bytes)
    metadata: list of dict or None, one per image (e.g. a GenEval line), or None when the
              client sent none
    The example returns the mean of each image's R, G and B values, scaled to [0, 1].
    """
    out = []
    for img in images:
        rgb = img[2] if isinstance(img, tuple) else img.tobytes()
        out.append(sum(rgb) / (255.0 * len(rgb)))
    return out


PNG_SIG = b"\x89PNG\r\n\x1a\n"


class BadRequest(Exception):
    pass


def png_size(data):
    """Width and height from the PNG header (the IHDR chunk), without decoding."""
    if len(data) < 24 or data[:8] != PNG_SIG or data[12:16] != b"IHDR":
        raise BadRequest("not a PNG")
    return struct.unpack(">II", data[16:24])


def decode_png_plain(data):
    """A small PNG decoder for 8-bit RGB/RGBA/grey, non-interlaced (what flowtune sends)."""
    pos, chunks, ihdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise BadRequest("PNG kind not supported without Pillow (depth %d, colour type %d)" % (depth, ctype))
    raw = zlib.decompress(b"".join(chunks))
    stride, bpp = w * channels, channels
    prev, rows, i = bytearray(stride), [], 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    px = b"".join(rows)
    if channels in (1, 2):
        px = bytes(v for k in range(0, len(px), channels) for v in (px[k],) * 3)
    elif channels == 4:
        px = bytes(v for k in range(0, len(px), 4) for v in px[k:k + 3])
    return (w, h, px)


def decode_image(s, max_side):
    if s.startswith("data:"):
        s = s.split(",", 1)[-1]
    try:
        data = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadRequest("not standard base64: %s" % e)
    w, h = png_size(data)
    if w == 0 or h == 0 or w > max_side or h > max_side:
        raise BadRequest("PNG is %dx%d; this server takes sides of 1 to %d pixels" % (w, h, max_side))
    try:
        from PIL import Image  # optional
        import io
        return Image.open(io.BytesIO(data)).convert("RGB")
    except ImportError:
        return decode_png_plain(data)


def make_handler(name, max_body, max_side, scorer):
    class Handler(BaseHTTPRequestHandler):
        server_version = "flowtune-reward/1"

        def answer(self, status, obj):
            body = (json.dumps(obj) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.rstrip("/") == "/health":
                self.answer(200, {"status": "ok", "reward": name})
            else:
                self.answer(404, {"error": "unknown path %s (GET /health, POST /compute)" % self.path})

        def do_POST(self):
            if self.path.rstrip("/") != "/compute":
                self.answer(404, {"error": "unknown path %s (POST /compute)" % self.path})
                return
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                self.answer(415, {"error": "Content-Type %r: send application/json" % ctype})
                return
            try:
                n = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self.answer(411, {"error": "Content-Length is required"})
                return
            if n < 0 or n > max_body:
                # Read (and drop) a moderate excess so that the client sees the answer rather
                # than a reset connection; a huge one is cut off.
                left = min(max(n, 0), max_body + (64 << 20))
                while left > 0:
                    chunk = self.rfile.read(min(left, 1 << 16))
                    if not chunk:
                        break
                    left -= len(chunk)
                self.close_connection = True
                self.answer(413, {"error": "request body of %d bytes exceeds the limit of %d; send fewer images per request" % (n, max_body)})
                return
            try:
                req = json.loads(self.rfile.read(n))
                prompts, images, meta = self.parse(req)
            except BadRequest as e:
                self.answer(400, {"error": str(e)})
                return
            except ValueError as e:
                self.answer(400, {"error": "request body is not JSON: %s" % e})
                return
            try:
                scores = [float(v) for v in scorer(prompts, images, meta)]
            except Exception as e:  # the reward's failure, reported to the client
                self.answer(500, {"error": "score() failed: %s: %s" % (type(e).__name__, e)})
                return
            if len(scores) != len(images) or not all(math.isfinite(v) for v in scores):
                self.answer(500, {"error": "score() returned %d values for %d images (all must be finite)" % (len(scores), len(images))})
                return
            self.answer(200, {"rewards": scores})

        def parse(self, req):
            if not isinstance(req, dict):
                raise BadRequest('want a JSON object {"prompt": [...], "image": [...]}')
            images, prompts, meta = req.get("image"), req.get("prompt"), req.get("metadata")
            if not isinstance(images, list) or not images:
                raise BadRequest('"image" must be a non-empty list of base64 PNGs')
            if not isinstance(prompts, list) or len(prompts) != len(images) or not all(isinstance(p, str) for p in prompts):
                raise BadRequest('"prompt" must be a list of one string per image')
            if meta is not None and (not isinstance(meta, list) or len(meta) != len(images)):
                raise BadRequest('"metadata", when present, must be a list of one object (or null) per image')
            decoded = []
            for i, s in enumerate(images):
                if not isinstance(s, str):
                    raise BadRequest("image %d is not a string" % i)
                try:
                    decoded.append(decode_image(s, max_side))
                except BadRequest as e:
                    raise BadRequest("image %d: %s" % (i, e))
                except Exception as e:
                    raise BadRequest("image %d: cannot decode: %s" % (i, e))
            return prompts, decoded, meta

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    return Handler


def main(argv=None, scorer=score):
    ap = argparse.ArgumentParser(description="Serve a reward in flowtune's remote-reward protocol.")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    ap.add_argument("--port", type=int, default=8700, help="port (0 picks a free one)")
    ap.add_argument("--name", default=NAME, help="the reward's name in /health")
    ap.add_argument("--max-body-mb", type=float, default=256, help="largest request body")
    ap.add_argument("--max-side", type=int, default=4096, help="largest image width or height")
    args = ap.parse_args(argv)
    handler = make_handler(args.name, int(args.max_body_mb * (1 << 20)), args.max_side, scorer)
    srv = ThreadingHTTPServer((args.host, args.port), handler)
    host, port = srv.server_address[:2]
    print("serving reward %s on http://%s:%d" % (args.name, host, port), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
