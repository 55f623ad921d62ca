#!/usr/bin/python3
"""Writes reports/perf.md from the results of benchmarks/run_perf.sh.

    perf_report.py RESULTS_DIR REPORT_MD

RESULTS_DIR holds one Google Benchmark JSON file per case (sib_bench --benchmark_out), the phase
profiles (phases_<model>.txt from sib_phase_profile), optionally perf_<model>.txt (perf report
--sort dso,symbol) and machine.txt (key: value lines written by run_perf.sh). Everything after the
marker line NOTES_MARKER in an existing REPORT_MD is kept: that is where a person writes what a run
means, and a rerun must not erase it.
"""
import json
import pathlib
import re
import sys

NOTES_MARKER = "<!-- notes: everything below this line is written by hand and kept by run_perf.sh -->"

MODELS = [
    ("small", "Conv2d(1,16,3,padding=1); ReLU; MaxPool2d(2); Conv2d(16,32,3,padding=1); ReLU; MaxPool2d(2); "
              "Flatten; Linear(1568,10) on 1x28x28"),
    ("three_conv", "Conv2d(3,32,3,padding=1); ReLU; MaxPool2d(2); Conv2d(32,64,3,padding=1); ReLU; MaxPool2d(2); "
                   "Conv2d(64,128,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(2048,10) on 3x32x32"),
]
OBJECTIVES = [("sib_step", "S-IB"), ("ce_step", "CE")]

# Symbol -> primitive, first match wins (demangled names; a parallel_for body is named after the
# function whose lambda it runs, so the rule names appear in the template arguments).
CATEGORIES = [
    ("OpenMP runtime (barriers, spinning, fork/join)", lambda dso, sym: "libgomp" in dso),
    ("kernel: page faults (first touch of freshly mapped memory)", lambda dso, sym: dso.startswith("[kernel") and re.search(
        r"page|pte|mm_fault|memcg|mem_cgroup|mas_walk|folio|lru|zap|rmap|charge", sym)),
    ("kernel: scheduling, futex and other", lambda dso, sym: dso.startswith("[kernel")),
    # Layer rules small enough to be inlined into the variant visitor of a sweep (ReLU, pooling,
    # flatten) and the sweeps' own adds and copies. Before the conv rule: these symbols name every
    # layer type of the variant.
    ("layer rules inlined into the sweeps", lambda dso, sym: re.search(r"__gen_vtable_impl|_sweep<", sym)),
    ("mask: sort and soft quantiles", lambda dso, sym: re.search(
        r"segmented_sort|argsort|soft_quantile|stable_sort|introsort|insertion_sort|__merge", sym)),
    ("mask: other (mean, box mean, thresholds)", lambda dso, sym: "density_mask" in sym),
    ("GEMM (BLAS: kernel)", lambda dso, sym: "blas" in dso and re.search(r"gemm_kernel|gemm_small_kernel", sym)),
    ("GEMM (BLAS: packing, scaling and driver)", lambda dso, sym: "blas" in dso or "blis" in dso),
    ("GEMM (Eigen)", lambda dso, sym: "Eigen::" in sym and "conv2d<" not in sym),
    # Whatever conv2d runs outside the GEMM: im2col, col2im, layout changes, bias, zeroing. Which of
    # these a symbol holds depends on how the rule is written (they are inlined into its lambdas).
    ("conv: im2col, col2im, layout and bias loops", lambda dso, sym: re.search(r"im2col|col2im|conv2d<", sym)),
    ("pooling (max)", lambda dso, sym: re.search(r"max_pool2d|avg_pool2d", sym)),
    ("elementwise (ReLU, flatten)", lambda dso, sym: re.search(r"relu<|flatten<", sym)),
    ("linear: bias and other", lambda dso, sym: "linear<" in sym),
    ("terms (HSIC, normalize, variance, CE)", lambda dso, sym: re.search(
        r"hsic|double_center|normalize_rows|variance_proxy|apply_mask|accumulate_mask|foreground|background|cross_entropy",
        sym)),
    ("optimizer (AdamW, zero_grad)", lambda dso, sym: re.search(r"adamw|zero_grad", sym)),
    ("memcpy / memset", lambda dso, sym: re.search(r"mem(cpy|set|move)", sym)),
    ("libm (exp, ...)", lambda dso, sym: dso.startswith("libm")),
    ("malloc / free", lambda dso, sym: re.search(r"malloc|free|_int_|cfree|operator new|operator delete", sym)),
]


def load_cases(results):
    """name -> dict(real_ms, gflops, step_gflop, peak, base, reps) from every JSON file."""
    cases, context = {}, {}
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text())
        context = data.get("context", context)
        runs = {}
        for b in data["benchmarks"]:
            name = b["run_name"]
            runs.setdefault(name, []).append(b)
        for name, entries in runs.items():
            its = [e for e in entries if e.get("run_type") == "iteration"]
            med = [e for e in entries if e.get("aggregate_name") == "median"]
            assert its, f"{path}: no iterations for {name}"
            assert its[0]["time_unit"] == "ms", f"{name}: unit {its[0]['time_unit']}"
            real = med[0]["real_time"] if med else its[0]["real_time"]
            short = re.sub(r"/real_time$", "", name)
            cases[short] = dict(
                real_ms=real,
                min_ms=min(e["real_time"] for e in its),
                max_ms=max(e["real_time"] for e in its),
                reps=len(its),
                iterations=its[0]["iterations"],
                step_gflop=its[0]["step_GFLOP"],
                gflops=its[0]["step_GFLOP"] / (real / 1000.0),
                peak=max(e["peak_rss_MiB"] for e in its),
                base=its[0]["base_rss_MiB"],
            )
    return cases, context


def parse_phases(path):
    for line in path.read_text().splitlines():
        if line.startswith("json "):
            return json.loads(line[5:])
    return None


def parse_perf(path):
    """[(percent, dso, symbol)] from `perf report --sort dso,symbol --stdio`."""
    rows = []
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$", line)
        if m:
            # perf pads the symbol column and may append empty columns shown as "-".
            sym = re.sub(r"(\s+-)+\s*$", "", m.group(4)).strip()
            rows.append((float(m.group(1)), m.group(2), sym))
    return rows


def categorize(rows):
    totals = {}
    for pct, dso, sym in rows:
        cat = next((name for name, test in CATEGORIES if test(dso, sym)), "other")
        totals[cat] = totals.get(cat, 0.0) + pct
    return sorted(totals.items(), key=lambda kv: -kv[1])


def met(ok):
    return "**met**" if ok else "**not met**"


def main():
    results, report = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    cases, ctx = load_cases(results)
    machine = {}
    mpath = results / "machine.txt"
    if mpath.exists():
        for line in mpath.read_text().splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                machine[k.strip()] = v.strip()

    sgemm = cases.get("sgemm/eigen/2048")
    sgemm_gflops = sgemm["gflops"] if sgemm else float("nan")
    out = []
    w = out.append
    w("# Speed: sib against LibTorch (issue \"Speed\")")
    w("")
    w("Written by `benchmarks/run_perf.sh` (measurement only; nothing here is tuned). Every number below is")
    w("from one run on the machine described; rerun the script to refresh it.")
    w("")
    w("## Setup")
    w("")
    w(f"- Date: {machine.get('date', ctx.get('date', '?'))}")
    w(f"- Machine: {machine.get('cpu', '?')}; {machine.get('cores', '?')}")
    w(f"- Load average (1/5/15 min) before the timings: {machine.get('load_before', '?')}; after: "
      f"{machine.get('load_after', '?')} (a 1-minute load near 1 is the previous case's own threads "
      f"decaying; well above the core count means other work shared the cores)")
    loads = results / "loads.txt"
    if loads.exists():
        w("- Load average (1/5/15 min) as each case started: " +
          "; ".join(f"{l.split(':', 1)[0]} {l.split(':', 1)[1].strip()}" for l in loads.read_text().splitlines() if ":" in l))
    w(f"- Library source measured: {machine.get('source', '?')} (the working tree as built)")
    w(f"- Compiler: {ctx.get('compiler', '?')}; flags of sib_bench: `{ctx.get('flags', '?')}` on top of CMake's "
      f"Release `-O3 -DNDEBUG`; Eigen {ctx.get('eigen', '?')}")
    w(f"- LibTorch {ctx.get('libtorch', '?')} (Debian libtorch-dev): {ctx.get('libtorch_config', '?')}")
    w(f"- Threads: {ctx.get('sib_threads', '?')} on both sides (`sib::set_num_threads`, `torch::set_num_threads`; "
      f"one OpenMP runtime, libgomp, serves both); `OMP_WAIT_POLICY`={machine.get('omp_wait_policy', 'unset')}")
    w(f"- BLAS environment (benchmarks/blas_env.sh, the same for both sides): {machine.get('blas_env', 'not recorded')}")
    w(f"- Google Benchmark {machine.get('benchmark', '')}: one process per case, "
      f"`--benchmark_min_time={machine.get('min_time', '?')}`, {machine.get('repetitions', '?')} repetitions, the "
      "median real time is reported (min-max in brackets). Batch 64, float32, the same initial weights and "
      "batch on both sides, training continues across iterations (AdamW updates every step).")
    w("- A step is zero_grad + forward + loss + backward + AdamW update. sib: `sib::spec_model<float>`, "
      "`sib::objective_step` with `sib::sib_objective<float>()` and `sib::density_mask<float>` (default "
      "window), `sib::optim::adamw<float>`, `sib::optim::pytorch_default` init. LibTorch: the same "
      "`nn::Sequential`, the S-IB objective written with torch ops (`benchmarks/torch_side.hpp`: "
      "`autograd::grad(create_graph=true)`, sort-based soft quantiles, `avg_pool2d` density mask, linear "
      "HSIC, unbiased variance, `CE + 1000 exp(bg) + 0.01 exp(-fg)`), `backward` to the parameters, "
      "`torch::optim::AdamW`.")
    w("- Agreement (checked by every sib_bench process before it times anything, else it aborts): float32 "
      "values of total, CE, fg, bg to 1e-3 relative; float64 values, every parameter gradient and the "
      "parameters after one AdamW step to 1e-8. This run:")
    w("")
    w("```")
    check = results / "check.txt"
    w(check.read_text().rstrip() if check.exists() else "(check output missing)")
    w("```")
    w("")
    w("## FLOP count")
    w("")
    w("Only convolution and linear GEMMs count, 2mnk each (bias, pooling, activations, mask, terms and "
      "AdamW are left out). With F_l the forward GEMM FLOPs of layer l (2·N·O·C·kh·kw·OH·OW for a "
      "convolution, 2·N·in·out for a linear layer), sib's sweeps run per layer: forward, decoder VJP, "
      "tangent JVP, mixed weight gradient, backward weight gradient, and the backward input gradient except "
      "for layer 0, i.e. (5 + [l>0])·F_l for the S-IB step and (2 + [l>0])·F_l for the CE step "
      "(`include/sib/autodiff/step_flops.hpp`). LibTorch is charged the same count, so its GFLOP/s over sib's is "
      "the time ratio.")
    w("")
    w("| model | GFLOP per S-IB step | GFLOP per CE step |")
    w("| --- | ---: | ---: |")
    for model, _ in MODELS:
        a, b = cases.get(f"sib/{model}/sib_step"), cases.get(f"sib/{model}/ce_step")
        w(f"| {model} | {a['step_gflop']:.3f} | {b['step_gflop']:.3f} |" if a and b else f"| {model} | ? | ? |")
    w("")
    w("## Results")
    w("")
    if sgemm:
        w(f"Reference: Eigen SGEMM 2048x2048x2048 through `sib::cpu::gemm`, {ctx.get('sib_threads', '?')} threads: "
          f"**{sgemm_gflops:.1f} GFLOP/s** ({sgemm['real_ms']:.1f} ms, min-max {sgemm['min_ms']:.1f}-{sgemm['max_ms']:.1f}).")
        w("")
    targets = []
    for model, desc in MODELS:
        w(f"### {model}: `{desc}`")
        w("")
        w("| objective | sib ms/step | torch ms/step | sib/torch | sib/torch (fastest reps) | sib img/s | torch img/s | sib GFLOP/s | "
          "torch GFLOP/s | sib % SGEMM | torch % SGEMM | sib peak RSS MiB | torch peak RSS MiB |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for obj, label in OBJECTIVES:
            s, t = cases.get(f"sib/{model}/{obj}"), cases.get(f"torch/{model}/{obj}")
            if not s or not t:
                w(f"| {label} | missing | missing | | | | | | | | | | |")
                continue
            ratio = s["real_ms"] / t["real_ms"]
            w(f"| {label} | {s['real_ms']:.1f} ({s['min_ms']:.1f}-{s['max_ms']:.1f}) | "
              f"{t['real_ms']:.1f} ({t['min_ms']:.1f}-{t['max_ms']:.1f}) | {ratio:.2f} | {s['min_ms'] / t['min_ms']:.2f} | "
              f"{64000.0 / s['real_ms']:.0f} | {64000.0 / t['real_ms']:.0f} | {s['gflops']:.2f} | {t['gflops']:.2f} | "
              f"{100 * s['gflops'] / sgemm_gflops:.1f} | {100 * t['gflops'] / sgemm_gflops:.1f} | "
              f"{s['peak']:.0f} (+{s['peak'] - s['base']:.0f}) | {t['peak']:.0f} (+{t['peak'] - t['base']:.0f}) |")
            targets.append((model, obj, s, t, ratio))
        w("")
    w("Peak RSS is `ru_maxrss` of a process that ran that case alone; in brackets the growth over the "
      "process's RSS at the start of `main` (the same binary on both sides, so the start includes "
      f"LibTorch's libraries and static initialisation for both: about "
      f"{next(iter(cases.values()))['base']:.0f} MiB). The agreement check runs in a child process and does "
      "not count.")
    w("")
    # The speed issue's targets on these two models (ratios of sib's step time to LibTorch's at its
    # best), the three-conv S-IB step's share of the best SGEMM, and peak memory at most half of
    # LibTorch's: compared on the growth over the process's start, which holds the same libraries
    # for both sides.
    w("## Targets of the issue")
    w("")
    w("| target | measured | status |")
    w("| --- | --- | --- |")
    by = {(m, o): (s, t, r) for m, o, s, t, r in targets}
    limits = {("small", "sib_step"): 0.25, ("small", "ce_step"): 0.4,
              ("three_conv", "sib_step"): 0.4, ("three_conv", "ce_step"): 0.7}
    for (model, objective), limit in limits.items():
        if (model, objective) in by:
            r = by[(model, objective)][2]
            w(f"| {dict(OBJECTIVES)[objective]} step, {model}: sib <= {limit}x torch | {r:.2f}x | {met(r <= limit)} |")
    if ("three_conv", "sib_step") in by:
        s = by[("three_conv", "sib_step")][0]
        pct = 100 * s["gflops"] / sgemm_gflops
        w(f"| S-IB step, three_conv: >= 60% of SGEMM | {pct:.1f}% ({s['gflops']:.2f} of {sgemm_gflops:.1f} GFLOP/s) | "
          f"{met(pct >= 60)} |")
    for m, o, s, t, r in targets:
        sg, tg = s["peak"] - s["base"], t["peak"] - t["base"]
        w(f"| peak memory <= half of torch's, {m} {dict(OBJECTIVES)[o]} (growth over the start) | "
          f"{sg:.0f} vs {tg:.0f} MiB | {met(sg <= 0.5 * tg)} |")
    w("")
    w("## Where sib's S-IB step spends its time")
    w("")
    w("### Per phase")
    w("")
    w("`sib_phase_profile` runs the body of `sib::objective_step` with a clock between the phases (after "
      "proving that its copy gives bitwise the loss and gradients of the library's step), plus zero_grad "
      "and the AdamW update; same batch, model, threads and flags as sib_bench.")
    w("")
    phase_cols = ["zero_grad", "forward", "decoder_sweep", "mask_forward", "terms", "mask_vjp",
                  "tangent_sweep", "decoder_hvp", "backward_sweep", "optimizer"]
    profiles = []
    for model, _ in MODELS:
        p = results / f"phases_{model}.txt"
        if p.exists():
            ph = parse_phases(p)
            if ph:
                profiles.append(ph)
    if profiles:
        w("| phase | " + " | ".join(f"{p['model']} ms | %" for p in profiles) + " |")
        w("| --- |" + " ---: | ---: |" * len(profiles))
        for col in phase_cols:
            cells = []
            for p in profiles:
                total = sum(p.get(c, 0) for c in phase_cols)
                v = p.get(col, 0)
                cells.append(f"{v:.2f} | {100 * v / total:.1f}")
            w(f"| {col} | " + " | ".join(cells) + " |")
        w("| step (wall) | " + " | ".join(f"{p['ms_per_step']:.2f} | " for p in profiles) + " |")
        w("")
        w("What each phase runs: forward = every layer's forward (conv: per sample, im2col + GEMM written into y); "
          "decoder_sweep = the seed s and R = J^T s (conv: gather + GEMM + col2im per layer, pooling and ReLU "
          "VJPs); mask_forward/mask_vjp = the density mask (channel mean, 4 soft quantiles = 4 sorts of every "
          "row, box mean, sigmoids) and its VJP; terms = HSIC, normalisation, variance, CE values and VJPs; "
          "tangent_sweep = per layer the mixed weight gradient (im2col of the tangent + GEMM) and the JVP "
          "(im2col + GEMM); decoder_hvp = the seed's Hessian-vector product; backward_sweep = per layer the "
          "weight gradient (im2col + GEMM) and the input gradient (GEMM + col2im).")
        w("")
    perf_tables = []
    for p in sorted(results.glob("perf_*.txt")):
        rows = parse_perf(p)
        if rows:
            # perf_<model>_<threads>t.txt
            model, _, nthreads = p.stem[len("perf_"):].rpartition("_")
            perf_tables.append((f"{model}, {nthreads.rstrip('t')} thr", categorize(rows), rows))
    if perf_tables:
        w("### Per primitive")
        w("")
        w("`perf record -F 999` (cpu-clock sampling) of `sib_phase_profile` running the S-IB step, sampling "
          "only its timed steps (30 for small, 10 for three_conv, after 2 warm-up steps), self time per symbol grouped by the primitive it belongs to "
          "(`benchmarks/perf_report.py` lists the rules; a `parallel_for` body is named after the rule whose "
          "lambda it runs). With 2 threads, time a thread spends waiting in OpenMP barriers for the other "
          "shows as libgomp; the 1-thread profile has no such waiting and shows the work alone.")
        w("")
        w("| primitive | " + " | ".join(f"{m}: % of samples" for m, _, _ in perf_tables) + " |")
        w("| --- |" + " ---: |" * len(perf_tables))
        cats = []
        for _, cat, _ in perf_tables:
            for name, _ in cat:
                if name not in cats:
                    cats.append(name)
        for name in cats:
            cells = [f"{dict(cat).get(name, 0.0):.1f}" for _, cat, _ in perf_tables]
            w(f"| {name} | " + " | ".join(cells) + " |")
        w("")
        for model, _, rows in perf_tables:
            w(f"Top symbols, {model}:")
            w("")
            w("| % | object | symbol (shortened) |")
            w("| ---: | --- | --- |")
            for pct, dso, sym in rows[:12]:
                short = re.sub(r"sib::v0::", "", sym)
                short = re.sub(r"<float, cpu>", "", short)
                if len(short) > 150:
                    short = short[:147] + "..."
                short = short.replace("|", "\\|")
                w(f"| {pct:.1f} | {dso} | `{short}` |")
            w("")
    notes = ""
    if report.exists():
        old = report.read_text()
        if NOTES_MARKER in old:
            notes = old.split(NOTES_MARKER, 1)[1].strip("\n")
    w(NOTES_MARKER)
    if notes:
        w(notes)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(out) + "\n")
    print(f"wrote {report}")


if __name__ == "__main__":
    main()
