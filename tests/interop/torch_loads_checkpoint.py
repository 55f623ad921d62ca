"""A checkpoint written by `sib train` loads into PyTorch's nn.Sequential of the same spec (strict
state dict, after dropping the optimizer's `optim.*` entries) and computes the logits that
`sib loss` computed from it. Reads .safetensors and .npy by hand (no safetensors package needed).

    torch_loads_checkpoint.py CHECKPOINT X.npy LOGITS.npy
Exit 0: agree; 1: disagree; 77: PyTorch is not installed (skipped)."""
import json
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError:
    print("PyTorch (python3-torch) not installed: skipped")
    sys.exit(77)

checkpoint, x_path, logits_path = sys.argv[1:4]
raw = open(checkpoint, "rb").read()
header_len = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + header_len])
body = raw[8 + header_len:]
dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
state = {}
for name, entry in header.items():
    if name == "__metadata__" or name.startswith("optim."):
        continue
    lo, hi = entry["data_offsets"]
    state[name] = torch.from_numpy(np.frombuffer(body[lo:hi], dtypes[entry["dtype"]]).reshape(entry["shape"]).copy())

# The spec of tests/interop/run.sh.
model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, stride=2),
                      nn.Tanh(), nn.Flatten(), nn.Linear(6 * 7 * 7, 6)).double()
result = model.load_state_dict({k: v.double() for k, v in state.items()}, strict=True)
print(result)
x = torch.from_numpy(np.load(x_path)).double()
with torch.no_grad():
    got = model(x).numpy()
want = np.load(logits_path)
err = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))
print(f"logits: PyTorch against sib, max relative error {err:.3e}")
sys.exit(0 if err < 1e-5 else 1)
