"""Self-contained user lemma files for the CLI, report and pytest-plugin tests.

The claim kind lives in the lemma file itself and checks something real and
cheap: SPEC LEM-G5 on the SPEC §11 fixture, i.e. that the ascent direction of a
target FP correlation equals E[1_k 1{p in M} <closed form>] with the closed form
z_a A_{p,a} ||x_p - F_p||^2 given as a SymPy expression.  The left side comes
from autograd of ``loss_coords``; the right side evaluates the SymPy expression
per event.  A planted false closed form (z_a -> z_a^2, sign flip) is REFUTED with
the worst (p, k) entry as counterexample.
"""
import textwrap

LEMMA_SOURCE = textwrap.dedent('''
    import time

    import sympy as sp
    import torch

    from proofcheck.setting.coords import events, grad_coords
    from proofcheck.setting.instance import fixture_6
    from proofcheck.lang.lemma import Assumption, Claim, Lemma, Provenance
    from proofcheck.setting.sampling import exact_batch
    from proofcheck.verdict import CheckResult, Verdict

    za, Aa, r2 = sp.symbols("z_a A_a r2", nonnegative=True)


    class TargetFPAscent(Claim):
        kind = "numeric"

        def __init__(self, closed_form, sleep=0.0, raise_it=False):
            self.closed_form, self.sleep, self.raise_it = closed_form, sleep, raise_it
            self.label = f"-dL/dPhi_(p->v_(k,a)) = E[1_k 1(p in M) {closed_form}] on fixture-6 [D]"

        def check(self, lemma, ctx):
            time.sleep(self.sleep)
            if self.raise_it:
                raise RuntimeError("planted failure inside the check")
            inst = fixture_6()
            batch = exact_batch(inst)
            gen = torch.Generator().manual_seed(ctx.seed)
            Phi = torch.randn(inst.P, inst.F, dtype=torch.float64, generator=gen)
            Ups = torch.randn(inst.P, inst.P, dtype=torch.float64, generator=gen)
            _, gPhi, _ = grad_coords(Phi, Ups, inst, batch)
            ev = events(Phi, Ups, inst, batch)
            A_a = ev.A.gather(2, ev.a.unsqueeze(-1)).squeeze(-1)
            per_event = sp.lambdify((za, Aa, r2), self.closed_form, "numpy")(ev.z_a.numpy(), A_a.numpy(),
                                                                              ev.r2.numpy())
            w = (batch.weight.unsqueeze(1) * batch.mask).numpy() * per_event
            errors = {}
            for k in range(inst.K):
                rows = (batch.cluster == k).numpy()
                for p in range(inst.P):
                    f = int(inst.feature_of[k, p])
                    errors[(p, k)] = (float(w[rows, p].sum()), float(-gPhi[p, f]))
            (p, k), (closed, auto) = max(errors.items(), key=lambda kv: abs(kv[1][0] - kv[1][1]))
            err = abs(closed - auto)
            atol = 1e-12
            plots = []
            if ctx.plot_dir is not None:
                import matplotlib
                matplotlib.use("Agg")
                import matplotlib.pyplot as plt
                ctx.plot_dir.mkdir(parents=True, exist_ok=True)
                fig, ax = plt.subplots(figsize=(5, 3))
                ax.bar(range(len(errors)), [abs(a - b) for a, b in errors.values()])
                ax.set(xlabel="(p, k) entry", ylabel="|closed form - autograd|")
                path = ctx.plot_dir / "errors.png"
                fig.savefig(path, dpi=80, bbox_inches="tight")
                plt.close(fig)
                plots.append(str(path))
            tol = {"atol": atol, "rtol": 0.0, "justification": "exact float64 sums of the same ~768 event terms "
                   "on both sides; rounding error < 768 * 2.2e-16 * max term, far below 1e-12"}
            cex = None
            if err > atol:
                cex = {"instance": "fixture-6", "p": p, "cluster": k + 1, "closed_form": closed, "autograd": auto,
                       "seed": ctx.seed, "command": f"proofcheck verify {lemma.id} --seed {ctx.seed} --lemmas "
                       f"{lemma.source}"}
            return [CheckResult(self.kind, self.label, Verdict.REFUTED if cex else Verdict.VERIFIED,
                                f"worst entry p={p}, k={k + 1}: closed form {closed:.6g} vs autograd {auto:.6g}",
                                evidence={"worst": {"p": p, "cluster": k + 1}, "max_abs_error": err,
                                          "entries": len(errors)},
                                tolerance=tol, counterexample=cex, margin=atol - err, seed=ctx.seed, plots=plots)]


    LEMMA = Lemma(
        id="{ID}", title="{TITLE}",
        provenance=Provenance("SPEC §8 LEM-G5", "{TAG}"),
        statement=sp.Eq(sp.Symbol("g_target"), {CLOSED}),
        claims=[{CLAIMS}],
        assumptions=[Assumption("z_positive", "area scales z_j > 0 (SPEC DEF-DATA)", lambda case: True,
                                lambda: None)],
    )
''')

TRUE_FORM = "za * Aa * r2"
FALSE_FORMS = {"z_squared": "za**2 * Aa * r2", "sign_flip": "-za * Aa * r2", "dropped_factor": "za * r2"}


def lemma_source(lemma_id="USER-G5", closed=TRUE_FORM, title="target FP ascent equals z_a A_a r^2", tag="D",
                 claims=None):
    claims = claims or f"TargetFPAscent({closed})"
    return (LEMMA_SOURCE.replace("{ID}", lemma_id).replace("{TITLE}", title).replace("{TAG}", tag)
            .replace("{CLOSED}", closed).replace("{CLAIMS}", claims))


def write_lemma(folder, name, **kw):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(lemma_source(**kw))
    return path
