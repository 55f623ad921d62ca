"""The whole S-IB objective on torchvision's ResNets, PyTorch's side (tests/interop/run_torchvision_objective.sh
runs it and, at the same time, sib_torchvision_objective, which compares each case once written).

    torchvision_objective.py export DIR [--share]

For each case (torchvision's resnet18, resnet34, resnet50 at 2x3x64x64, resnet18 with the
small-input stem, conv1 3x3/1 and no max-pool, at 2x3x32x32, and the latter again with the mask's
temperature at 10; num_classes 10), in float64:

- every parameter drawn at random, BatchNorm's weight and bias too, and running statistics that
  are not the defaults (the statistics of another batch, perturbed) so that evaluation mode is not
  the identity; num_batches_tracked 5;
- DIR/<case>/weights.safetensors: the state dict under torchvision's names (F64, num_batches_tracked
  I64), DIR/<case>/x.npy [2,3,H,W], y.npy [2] (int64);
- for model.train() and model.eval(), from those weights: the S-IB objective of docs/objective.md
  with its defaults (tests/fixtures/sib_reference.py: R = d(softmax energy)/dx with
  create_graph=True, the density mask, fg, bg, exp shaping, lambda_bg 1000, lambda_fg 0.01, window
  from the image size) and total.backward(): DIR/<case>/<mode>/logits.npy, R.npy, M.npy,
  values.npy ([ce, fg, bg, total]), grad.<name>.npy for every parameter, buffers.safetensors (the
  running statistics and num_batches_tracked after the step: in training mode moved once, momentum
  0.1, unbiased variance, num_batches_tracked 6; in evaluation mode as they were).

It fails (exit 1, once all is written) where a case cannot tell implementations apart: a saturated
softmax, a mask that is nearly binary, or exact ties among the values the soft quantiles sort.
With --share it also prints, per case and mode, the share of the parameter gradient that comes
from the S-IB terms (the part the second-order sweeps compute), at the cost of one more backward.
Exit 77 where torchvision is not installed."""
import os
import pathlib
import sys
import time

try:
    import numpy as np
    import torch
    import torchvision
except ImportError:
    print("torchvision (python3-torchvision) not installed: skipped")
    sys.exit(77)

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fixtures"))
from sib_reference import DEFAULT_MASK, default_window, objective  # noqa: E402
from torchvision_interop import write_safetensors  # noqa: E402

torch.set_default_dtype(torch.float64)

CLASSES = 10
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
BATCH = 2
# name, torchvision constructor, small-input stem, image size, seed, mask options other than the
# defaults. resnet18_small_tau10 is resnet18_small (the same seed: the same weights and batch) with
# the soft quantiles' temperature at 10, for sib's float32 side: at the default 0.1 a quantile's gradient sits
# on one sorted position, so where float32 rounding swaps two nearly equal values there it moves to
# another pixel (the gradient jumps at ties) and float32 can differ from float64 by up to the S-IB
# terms' share of the gradient; at 10 the weights of neighbouring positions differ by 10%.
CASES = [
    ("resnet18", torchvision.models.resnet18, False, 64, 18, {}),
    ("resnet34", torchvision.models.resnet34, False, 64, 34, {}),
    ("resnet50", torchvision.models.resnet50, False, 64, 50, {}),
    ("resnet18_small", torchvision.models.resnet18, True, 32, 19, {}),
    ("resnet18_small_tau10", torchvision.models.resnet18, True, 32, 19, {"temperature": 10.0}),
]


def build(constructor, small):
    model = constructor(num_classes=CLASSES)
    if small:  # sib::models::resnet18_small: 3x3/1 stem, padding 1, no bias, no max-pool
        model.conv1 = torch.nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = torch.nn.Identity()
    return model.double()


def randomise(model, size, g):
    """Every parameter and buffer drawn from `g`; logits of order 1 in both modes."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
        # Running statistics: those of another batch (momentum 1 for one forward), then the mean
        # moved by up to 0.3 standard deviations and the variance scaled by 0.5..2.
        bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for m in bns:
            m.momentum = 1.0
        model.train()
        model(torch.rand(4, 3, size, size, generator=g))
        for m in bns:
            m.momentum = 0.0  # the forwards below leave them as they are
            std = m.running_var.sqrt()
            m.running_mean.add_(0.3 * std * (2 * torch.rand(std.shape, generator=g) - 1))
            m.running_var.mul_(0.5 + 1.5 * torch.rand(std.shape, generator=g))
        # Logits of order 1 in both modes (neither softmax saturated).
        x = torch.rand(BATCH, 3, size, size, generator=g)
        spread = []
        for train in (True, False):
            model.train(train)
            spread.append(float(model(x).std()))
        model.fc.weight.mul_(1.0 / max(spread))
        model.fc.bias.mul_(1.0 / max(spread))
        for m in bns:
            m.momentum = 0.1  # torchvision's, as sib's batch_norm2d
            m.num_batches_tracked.fill_(5)
    return {k: v.clone() for k, v in model.state_dict().items()}


def ties(stages):
    n = 0
    for arr in stages:
        for row in arr.detach().numpy():
            n += int(np.sum(np.diff(np.sort(row)) == 0))
    return n


def run(model, state, x, y, o, train, share):
    model.load_state_dict(state, strict=True)
    model.train(train)
    model.zero_grad()
    r = objective(model, x, y, o, 1000.0, 0.01, "exp")
    if share:  # one more backward: the gradient of CE alone
        ce_grad = torch.autograd.grad(r["ce"], list(model.parameters()), retain_graph=True)
    r["total"].backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    if share:
        total = torch.cat([g.flatten() for g in grads.values()])
        r["share"] = float((total - torch.cat([g.flatten() for g in ce_grad])).norm() / total.norm())
    return r, grads


def export(d, share):
    """Writes the cases one by one, each to DIR/.<case> renamed to DIR/<case> when complete, so that
    sib's side can compare a case while the next one is computed."""
    torch.set_num_threads(1)
    ok = True
    made = {}  # (constructor, small, size, seed) -> the case folder that has its weights and batch
    for name, constructor, small, size, seed, mask in CASES:
        start = time.time()
        case = pathlib.Path(d) / ("." + name)
        case.mkdir(parents=True)
        key = (constructor, small, size, seed)
        if key in made:  # the same model and batch: drawn once, the files linked
            model, state, x, y, first = made[key]
            for f in ("weights.safetensors", "x.npy", "y.npy"):
                os.link(first / f, case / f)
        else:
            g = torch.Generator().manual_seed(seed)
            model = build(constructor, small)
            state = randomise(model, size, g)
            write_safetensors(case / "weights.safetensors", state)  # F64: both sides start from these bits
            x = torch.rand(BATCH, 3, size, size, generator=g)
            y = torch.randint(0, CLASSES, (BATCH,), generator=g)
            np.save(case / "x.npy", x.numpy())
            np.save(case / "y.npy", y.numpy().astype(np.int64))
            if [c[1:5] for c in CASES].count(key) > 1:
                made[key] = (model, state, x, y, pathlib.Path(d) / name)
        o = dict(DEFAULT_MASK, window=default_window(size, size), **mask)
        for mode in ("train", "eval"):
            r, grads = run(model, state, x, y, o, mode == "train", share)
            out = case / mode
            out.mkdir()
            np.save(out / "logits.npy", r["z"].detach().numpy())
            np.save(out / "R.npy", r["R"].detach().numpy())
            np.save(out / "M.npy", r["M"].detach().numpy())
            np.save(out / "values.npy", np.array([float(r[k]) for k in ("ce", "fg", "bg", "total")]))
            for n, v in grads.items():
                np.save(out / f"grad.{n}.npy", v.numpy())
            write_safetensors(out / "buffers.safetensors",
                              {k: v for k, v in model.state_dict().items() if k.split(".")[-1] in BUFFERS})
            p = torch.softmax(r["z"].detach(), dim=1)
            M = r["M"].detach().numpy()
            mid = float(np.mean((M > 0.05) & (M < 0.95)))
            n_ties = ties(r["stages"])
            print(f"{name} {mode}: max p {float(p.max()):.3f}, M in (0.05,0.95) {mid:.2f}, "
                  f"ce {float(r['ce']):.4f} fg {float(r['fg']):.4g} bg {float(r['bg']):.4g} "
                  f"total {float(r['total']):.6g}, exact ties {n_ties}"
                  + (f", S-IB terms' share of the gradient {r['share']:.2e}" if share else ""), flush=True)
            if float(p.max()) > 0.97 or mid < 0.05 or n_ties:
                print(f"{name} {mode}: not a useful case (saturated softmax, binary mask or ties)", flush=True)
                ok = False
        case.rename(case.parent / name)
        print(f"{name}: torchvision {torchvision.__version__}, {time.time() - start:.1f} s", flush=True)
    return ok


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] != "export" or sys.argv[3:] not in ([], ["--share"]):
        sys.exit(f"usage: {sys.argv[0]} export DIR [--share]")
    sys.exit(0 if export(sys.argv[2], "--share" in sys.argv) else 1)
