"""torchvision's resnet18 and sib's, both ways (tests/interop/run_torchvision.sh runs it).

    torchvision_interop.py export DIR   torchvision's resnet18(num_classes=10), seed 0, BatchNorm with
                                        affine parameters off 1 and 0 and the running statistics of
                                        two training batches, its state dict written by hand to
                                        DIR/torchvision.safetensors (F32 tensors, num_batches_tracked
                                        as I64 scalars); DIR/x.npy (2x3x32x32) and its
                                        evaluation-mode logits DIR/torchvision_logits.npy.
    torchvision_interop.py check DIR    after sib_torchvision_interop DIR: sib's logits equal
                                        torchvision's; sib's checkpoint, its optim.* entries
                                        dropped, loads into torchvision's resnet18 with
                                        load_state_dict(strict=True), its running statistics and
                                        num_batches_tracked are what torchvision's own training-mode
                                        forward on x gives (as closely as float32 torchvision's
                                        are), and its logits are sib's.

Reads and writes .safetensors by hand (no safetensors package). Exit 0: agree; 1: disagree;
77: torchvision is not installed (skipped)."""
import json
import struct
import sys

try:
    import numpy as np
    import torch
    import torchvision
except ImportError:
    print("torchvision (python3-torchvision) not installed: skipped")
    sys.exit(77)

TOLERANCE = 1e-4  # relative, float32 on both sides

TO_DTYPE = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
FROM_DTYPE = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def write_safetensors(path, tensors):
    """The format of docs/formats.md: 8-byte little-endian header length, JSON header, data."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": TO_DTYPE[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        lo, hi = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(body[lo:hi], FROM_DTYPE[e["dtype"]]).reshape(e["shape"]).copy())
    return out, metadata


def relative_error(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


def export(d):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
        model.train()
        for _ in range(2):
            model(torch.randn(4, 3, 32, 32))
        model.eval()
        x = torch.randn(2, 3, 32, 32)
        logits = model(x)
    write_safetensors(f"{d}/torchvision.safetensors", model.state_dict())
    np.save(f"{d}/x.npy", x.numpy())
    np.save(f"{d}/torchvision_logits.npy", logits.numpy())
    print(f"torchvision {torchvision.__version__}: resnet18 state dict of {len(model.state_dict())} entries written")


def check(d):
    ok = True
    x = torch.from_numpy(np.load(f"{d}/x.npy"))

    err = relative_error(np.load(f"{d}/sib_logits.npy"), np.load(f"{d}/torchvision_logits.npy"))
    print(f"torchvision -> sib: logits, max relative error {err:.3e}")
    ok &= err < TOLERANCE

    state, metadata = read_safetensors(f"{d}/sib_checkpoint.safetensors")
    optim = [k for k in state if k.startswith("optim.")]
    print(f"sib checkpoint: {len(state)} entries, {len(optim)} optim.*, format {metadata.get('format')}")
    ok &= len(optim) > 0 and metadata.get("format") == "sib-checkpoint/1"
    state = {k: v for k, v in state.items() if not k.startswith("optim.")}
    model = torchvision.models.resnet18(num_classes=10)
    print("load_state_dict(strict=True):", model.load_state_dict(state, strict=True))

    # The running statistics sib's training-mode forward left: torchvision's own forward on the same
    # batch, in float64 (the reference) and in float32. Training-mode BatchNorm over a batch of 2 at
    # layer4's 1x1 maps cancels digits (float32 torchvision is ~7e-5 off float64 there), so sib must
    # be as close to the reference as float32 torchvision is (at most twice as far), and below 1e-3.
    exported = read_safetensors(f"{d}/torchvision.safetensors")[0]
    references = {}
    for dtype in (torch.float64, torch.float32):
        reference = torchvision.models.resnet18(num_classes=10).to(dtype)
        reference.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in exported.items()},
                                  strict=True)
        reference.train()
        with torch.no_grad():
            reference(x.to(dtype))
        references[dtype] = reference.state_dict()
    sib_error = torch_error = 0.0
    for name, want in references[torch.float64].items():
        got = state[name]
        if name.endswith("num_batches_tracked"):
            if got.dtype != torch.int64 or got.shape != torch.Size([]) or int(got) != int(want):
                print(f"{name}: {got.dtype} {tuple(got.shape)} {got} in sib's checkpoint, {int(want)} in torchvision")
                ok = False
        elif "running_" in name:
            sib_error = max(sib_error, relative_error(got.numpy(), want.numpy()))
            torch_error = max(torch_error, relative_error(references[torch.float32][name].numpy(), want.numpy()))
    print(f"running statistics after one training-mode forward, max relative error against float64 torchvision: "
          f"sib {sib_error:.3e}, float32 torchvision {torch_error:.3e}")
    ok &= sib_error <= 2 * torch_error + 1e-6 and sib_error < 1e-3

    model.eval()
    with torch.no_grad():
        logits = model(x).numpy()
    err = relative_error(logits, np.load(f"{d}/sib_logits_after.npy"))
    changed = relative_error(logits, np.load(f"{d}/torchvision_logits.npy"))
    print(f"sib -> torchvision: logits, max relative error {err:.3e} (they moved by {changed:.3e} from the exported model's)")
    ok &= err < TOLERANCE and changed > 10 * TOLERANCE
    return ok


if __name__ == "__main__":
    mode, directory = sys.argv[1:3]
    if mode == "export":
        export(directory)
    elif check(directory):
        print("agree")
    else:
        print("disagree")
        sys.exit(1)
