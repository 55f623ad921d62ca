#!/usr/bin/env python3
"""Writes fuzz/corpus/<reader>/: a few small valid and invalid seeds per harness (standard library
only; each file under 4 KiB). Rerun after changing it: python3 fuzz/make_corpus.py"""
import gzip, json, os, shutil, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
TESTDATA = os.path.join(HERE, "..", "tests", "data", "io")


def put(reader, name, data):
    d = os.path.join(CORPUS, reader)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    assert len(data) < 4096, (reader, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


# ---- .npy -----------------------------------------------------------------------------------------
def npy(descr, shape, payload, major=1, fortran=False):
    dims = ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "")
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (descr, fortran, dims)
    pre = 10 if major == 1 else 12
    pad = 64 - (pre + len(d) + 1) % 64
    h = (d + " " * pad + "\n").encode()
    ln = struct.pack("<H", len(h)) if major == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([major, 0]) + ln + h + payload


def npy_seeds():
    put("npy", "f4_2x3", npy("<f4", (2, 3), struct.pack("<6f", *range(6))))
    put("npy", "f8_v2", npy("<f8", (3,), struct.pack("<3d", 1, 2, 3), major=2))
    put("npy", "i8_labels", npy("<i8", (4,), struct.pack("<4q", 0, 1, 2, 9)))
    put("npy", "i4_r0", npy("<i4", (), struct.pack("<i", 7)))
    put("npy", "u1_2x2x2", npy("|u1", (2, 2, 2), bytes(range(8))))
    put("npy", "empty", npy("<f4", (0, 5), b""))
    put("npy", "big_i8", npy("<i8", (2,), struct.pack("<2q", 2**40, -5)))
    put("npy", "truncated", npy("<f8", (4, 4), b"\0" * 16))
    put("npy", "fortran", npy("<f4", (2, 2), b"\0" * 16, fortran=True))
    for name in ("bad_header.npy", "big_endian.npy", "complex.npy", "f8_v3.npy", "short.npy"):
        with open(os.path.join(TESTDATA, name), "rb") as f:
            data = f.read()
        if len(data) < 4096:
            put("npy", name.replace(".npy", ""), data)


# ---- .safetensors ---------------------------------------------------------------------------------
def safetensors(entries, metadata=None, pad=True):
    """entries: [(name, dtype, shape, bytes)] laid out in order."""
    header, data, off = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dt, shape, payload in entries:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(payload)]}
        data += payload
        off += len(payload)
    text = json.dumps(header, separators=(",", ":"))
    if pad:
        text += " " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + data


def safetensors_seeds():
    put("safetensors", "two", safetensors([("a", "F32", (2, 2), struct.pack("<4f", 1, 2, 3, 4)),
                                           ("b", "I64", (), struct.pack("<q", 3))], {"k": "v"}))
    put("safetensors", "dtypes", safetensors([("f64", "F64", (1,), struct.pack("<d", 1)),
                                              ("i32", "I32", (2,), struct.pack("<2i", 1, -1)),
                                              ("u8", "U8", (3,), b"\1\2\3"),
                                              ("bf16", "BF16", (2,), b"\0\0\0\0"),
                                              ("empty", "F32", (0, 3), b"")]))
    put("safetensors", "overlap", struct.pack("<Q", 80) +
        b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}'[:80]
        + b"\0" * 8)
    for name in sorted(os.listdir(TESTDATA)):
        if name.endswith(".safetensors"):
            with open(os.path.join(TESTDATA, name), "rb") as f:
                data = f.read()
            if len(data) < 4096:
                put("safetensors", name.replace(".safetensors", ""), data)


# ---- IDX ------------------------------------------------------------------------------------------
def idx(dims, payload, code=8):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def idx_seeds():
    img = bytes((i * 37) % 256 if i % 3 else 0 for i in range(2 * 6 * 6))
    put("idx", "images_2x6x6", idx((2, 6, 6), img))
    put("idx", "images_2x6x6.gz", gz(idx((2, 6, 6), img)))
    put("idx", "images_1x3x4x4.gz", gz(idx((1, 3, 4, 4), bytes(range(48)))))
    put("idx", "labels_5", idx((5,), bytes([0, 1, 2, 3, 9])))
    put("idx", "labels_5.gz", gz(idx((5,), bytes([0, 1, 2, 3, 9]))))
    put("idx", "truncated", idx((3, 28, 28), b"\0" * 20))
    put("idx", "truncated.gz", gz(idx((2, 6, 6), img))[:-12])
    put("idx", "int_type", idx((2,), b"\0" * 8, code=0x0C))
    put("idx", "trailing", idx((2,), b"\0" * 4))


# ---- CIFAR ----------------------------------------------------------------------------------------
def cifar_seeds():
    rec = bytes([3]) + bytes((i * 7) % 256 for i in range(3072))
    put("cifar", "cifar10_one", rec)
    put("cifar", "cifar10_two.gz", gz(rec + bytes([9]) + bytes(3072)))
    put("cifar", "cifar100_one.gz", gz(bytes([4, 57]) + bytes(range(256)) * 12))
    put("cifar", "short", rec[:100])
    put("cifar", "bad_label", bytes([200]) + bytes(3072))


# ---- images ---------------------------------------------------------------------------------------
def png(w, h, color_type, depth, raw_rows):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw_rows))
            + chunk(b"IEND", b""))


def bmp(w, h):
    row = (w * 3 + 3) & ~3
    pixels = b"".join(bytes((x * 40 + y * 9) % 256 for x in range(w * 3)) + b"\0" * (row - w * 3)
                      for y in range(h))
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54) + info + pixels


def image_seeds():
    put("image", "rgb_4x3.png", png(4, 3, 2, 8, b"".join(b"\0" + bytes(range(y * 12, y * 12 + 12)) for y in range(3))))
    put("image", "gray_5x5.png", png(5, 5, 0, 8, b"".join(b"\1" + bytes([y * 10] * 5) for y in range(5))))
    put("image", "gray16_3x2.png", png(3, 2, 0, 16, b"".join(b"\0" + struct.pack(">3H", 1, 30000, 65535) for _ in range(2))))
    put("image", "rgba_2x2.png", png(2, 2, 6, 8, b"".join(b"\0" + bytes(range(8)) for _ in range(2))))
    put("image", "gray_4x4.pgm", b"P5\n4 4\n255\n" + bytes(range(0, 256, 16)))
    put("image", "rgb_2x2.ppm", b"P6\n2 2\n255\n" + bytes(range(12)))
    put("image", "rgb_3x2.bmp", bmp(3, 2))
    # An uncompressed 2x2 RGB TGA and a 1x1 GIF.
    put("image", "rgb_2x2.tga", bytes([0, 0, 2]) + bytes(9) + struct.pack("<HHBB", 2, 2, 24, 0) + bytes(range(12)))
    put("image", "one.gif", bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"))
    put("image", "not_an_image", b"hello, this is not an image\n")
    for name in ("gray16_3x2.png", "rgb_4x3.png"):
        with open(os.path.join(TESTDATA, name), "rb") as f:
            put("image", "testdata_" + name, f.read())


# ---- model specs ----------------------------------------------------------------------------------
def spec_seeds():
    specs = {
        "cnn": "Conv2d(1,16,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(256,10)",
        "kwargs": "nn.Conv2d(in_channels=1, out_channels=4, kernel_size=(3,5), stride=(1,2), padding=(1,2), bias=False); "
                  "BatchNorm2d(4, eps=1e-3, momentum=None); LeakyReLU(negative_slope=0.2); AvgPool2d(2, stride=None); "
                  "AdaptiveAvgPool2d((2,2)); Flatten(start_dim=1, end_dim=-1); Dropout(p=0.25); Linear(16, 3, bias=True)",
        "activations": "Conv2d(1,2,3); GELU(approximate='none'); Softplus(beta=2.0, threshold=10.0); Tanh; Sigmoid; "
                       "ReLU(inplace=True); Flatten; Linear(72,2)",
        "unknown": "Conv2d(1,2,3); Frobnicate(3)",
        "bad_args": "Conv2d(1,2,3,padding=1,padding=2); Linear(,)",
        "mismatch": "Flatten; Linear(10,2)",
        "nested": "MaxPool2d(kernel_size=((2,2)), stride=(1,(2))); Linear(1e3, 2)",
    }
    for k, v in specs.items():
        put("spec", k, v)


# ---- checkpoints ----------------------------------------------------------------------------------
# The harness's model: Conv2d(1,2,3); BatchNorm2d(2); ReLU; Flatten; Linear(8,3), AdamW, CE.
PARAMS = [("0.weight", (2, 1, 3, 3)), ("0.bias", (2,)), ("1.weight", (2,)), ("1.bias", (2,)),
          ("1.running_mean", (2,)), ("1.running_var", (2,)), ("4.weight", (3, 8)), ("4.bias", (3,))]
TRAINABLE = ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
SPEC = "Conv2d(1,2,3); BatchNorm2d(2); ReLU; Flatten; Linear(8,3)"
SETTINGS = {"batch_size": 4, "crop_padding": 0, "horizontal_flip": False, "init": "pytorch",
            "objective": {"objective": "ce"},
            "optimizer": {"amsgrad": False, "betas": [0.9, 0.999], "eps": 1e-08, "optimizer": "adamw",
                          "weight_decay": 0.01},
            "schedule": {"lr": 0.001, "schedule": "constant"}, "seed": 0}


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def f32(shape, base):
    return struct.pack("<%df" % numel(shape), *[(base + i) * 0.01 for i in range(numel(shape))])


def meta(steps, **extra):
    m = {"identity": SPEC, "settings": SETTINGS, "epoch": 1, "batch_in_epoch": 0, "step": steps,
         "epochs": 2, "seconds": 1.5, "train_loss": 0.5, "test_accuracy": None, "optimizer_steps": steps}
    m.update(extra)
    return json.dumps(m, separators=(",", ":"))


def checkpoint(steps, with_optim=True, sib=None):
    entries = [(n, "F32", s, f32(s, i)) for i, (n, s) in enumerate(PARAMS)]
    entries.append(("1.num_batches_tracked", "I64", (), struct.pack("<q", steps)))
    if with_optim:
        for n in TRAINABLE:
            s = dict(PARAMS)[n]
            entries += [("optim.%s.exp_avg" % n, "F32", s, f32(s, 1)), ("optim.%s.exp_avg_sq" % n, "F32", s, f32(s, 2))]
    return safetensors(entries, {"format": "sib-checkpoint/1", "sib": sib if sib is not None else meta(steps)})


def checkpoint_seeds():
    put("checkpoint", "resume_ok", checkpoint(3))
    put("checkpoint", "before_first_step", checkpoint(0, with_optim=False))
    put("checkpoint", "no_optimizer_state", checkpoint(3, with_optim=False))
    put("checkpoint", "bad_meta_json", checkpoint(3, sib="{not json"))
    put("checkpoint", "other_spec", checkpoint(3, sib=meta(3, identity="Linear(1,2)")))
    put("checkpoint", "not_a_checkpoint", safetensors([("0.weight", "F32", (1,), b"\0" * 4)]))


def checkpoint_json_seeds():
    put("checkpoint_json", "resume_ok", meta(3))
    put("checkpoint_json", "before_first_step", meta(0))
    put("checkpoint_json", "other_settings", meta(3, settings=dict(SETTINGS, seed=1)))
    put("checkpoint_json", "nulls", meta(3, seconds=None, train_loss=None))
    put("checkpoint_json", "array", "[1, 2, 3]")
    put("checkpoint_json", "wrong_types", meta(3, epoch="one", optimizer_steps=2.5))
    put("checkpoint_json", "not_json", "{\"identity\": ")


def json_seeds():
    put("json", "nested", '{"a":[1,-2,3.5e-7,true,false,null],"b":{"c":"\\u00e9\\ud83d\\ude00\\n"}}')
    put("json", "empty_array", "[]")
    put("json", "big", "18446744073709551616")
    put("json", "bad_utf8", b'"\xc3\xa9\xff"')
    put("json", "duplicate", '{"a":1,"a":2}')
    put("json", "deep", "[" * 10 + "1" + "]" * 10)
    put("json", "negative_zero", " -0.0e+00 ")


if __name__ == "__main__":
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    for seeds in (npy_seeds, safetensors_seeds, idx_seeds, cifar_seeds, image_seeds, spec_seeds,
                  checkpoint_seeds, checkpoint_json_seeds, json_seeds):
        seeds()
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(CORPUS) for f in fs)
    print("corpus: %d bytes" % total)
