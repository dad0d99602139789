"""Full-batch gradient descent on batched two-layer diagonal linear nets (Sec. 3.2.3 of the paper).

f(theta; x) = <u*u - v*v, x>, logistic loss softplus(-y f) averaged over the training set, weight decay
lambda added to the gradient as lambda*theta (objective L + lambda/2 ||theta||^2, as in the paper).
Every sweep point (an init norm and a lambda) is one row of the batched parameters u, v of shape (B, d),
so a whole sweep advances in one pair of matrix products per step. Runs in float64 with torch, on the
CPU or a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TypeVar

import numpy as np

from sims.engine import Summary
from sims.engine.curves import eval_schedule, training_steps
from sims.engine.divergence import check_finite


@dataclass(frozen=True)
class DiagonalSweep:
    """The batch: init_norm[b] = ||theta(0)||_2 (u = v = init_norm/sqrt(2d) * 1), lam[b] = weight decay."""

    init_norm: np.ndarray
    lam: np.ndarray

    @staticmethod
    def grid(init_norms, lams) -> "DiagonalSweep":
        """All (init norm, lambda) pairs, init norm varying fastest."""
        a, l = np.meshgrid(np.asarray(init_norms, float), np.asarray(lams, float), indexing="xy")
        return DiagonalSweep(a.ravel(), l.ravel())

    @property
    def size(self) -> int:
        return int(self.init_norm.size)


def _accuracy(margins):
    """Mean of 1 for y*f > 0, 1/2 for a tie, 0 otherwise (the official code's convention)."""

    return ((margins > 0).to(margins.dtype) + 0.5 * (margins == 0).to(margins.dtype)).mean(dim=-1)


def train(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, sweep: DiagonalSweep,
          lr: float, t_max: float, references: dict[str, np.ndarray], device, n_log: int = 120,
          n_linear: int = 300, desc: str = "diagonal net") -> dict[str, np.ndarray]:
    """Train all sweep points together; return curves sampled on a log+linear step schedule.

    references: named unit vectors w_ref (d,); the cosine between each point's w = u*u - v*v and each
    reference is recorded as `cos_<name>`. Returned arrays: steps, time (= lr*steps), train_acc,
    test_acc, train_loss, param_norm, margin (min_i y_i f_i / ||theta||^2), cos_*, each (T, B),
    and w_final (B, d).
    """
    import torch

    dt = torch.float64
    Xt = torch.as_tensor(X, dtype=dt, device=device)
    yt = torch.as_tensor(y, dtype=dt, device=device)
    Xs = torch.as_tensor(X_test, dtype=dt, device=device)
    ys = torch.as_tensor(y_test, dtype=dt, device=device)
    n, d = Xt.shape
    lam = torch.as_tensor(sweep.lam, dtype=dt, device=device)[:, None]
    scale = torch.as_tensor(sweep.init_norm / np.sqrt(2 * d), dtype=dt, device=device)[:, None]
    u = scale.expand(sweep.size, d).clone()
    v = u.clone()
    refs = {k: torch.as_tensor(r / np.linalg.norm(r), dtype=dt, device=device) for k, r in references.items()}

    total = int(np.ceil(t_max / lr))
    steps = eval_schedule(total, n_log, n_linear)
    rec: dict[str, list] = {k: [] for k in ("train_acc", "test_acc", "train_loss", "param_norm", "margin")}
    for k in refs:
        rec[f"cos_{k}"] = []

    def record(step: int) -> None:
        w = u * u - v * v
        m = yt * (w @ Xt.T)
        loss = torch.nn.functional.softplus(-m).mean(dim=-1)
        check_finite("train loss", loss, step, hint="Lower lr.")
        sq = (u * u).sum(-1) + (v * v).sum(-1)
        rec["train_loss"].append(loss)
        rec["train_acc"].append(_accuracy(m))
        rec["test_acc"].append(_accuracy(ys * (w @ Xs.T)))
        rec["param_norm"].append(sq.sqrt())
        rec["margin"].append(m.min(dim=-1).values / sq)
        wn = w / w.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        for k, r in refs.items():
            rec[f"cos_{k}"].append(wn @ r)

    for step in training_steps(steps, record, desc):
        w = u * u - v * v
        m = yt * (w @ Xt.T)
        g = (-yt * torch.sigmoid(-m) / n) @ Xt  # dL/dw, (B, d)
        u, v = u - lr * (2 * u * g + lam * u), v - lr * (-2 * v * g + lam * v)
    out = {k: torch.stack(vals).cpu().numpy() for k, vals in rec.items()}
    out["steps"] = steps
    out["time"] = steps * lr
    out["w_final"] = (u * u - v * v).cpu().numpy()
    return out


@dataclass(frozen=True)
class MarginClassifier(Summary):
    """A max-margin linear classifier of the training set (no bias), the predictor one phase converges to.

    test_acc: its accuracy on the test set (a prediction of exactly 0 counts 1/2);
    margin: its normalised margin min_i y_i <w, x_i> with ||w|| = 1 in its own norm (L2 or L1).
    """

    test_acc: float
    margin: float


@dataclass(frozen=True)
class DiagonalPoint(Summary):
    """One sweep point of a diagonal-net classification run: one init norm and one weight decay.

    init_norm: ||theta(0)||_2 (the code's alpha);
    lam: weight decay lambda (0: none);
    alpha_paper: the paper's init scale alpha = init_norm / sqrt(2d) (u = v = alpha * 1);
    t_fit: first time (t = lr * steps) train accuracy reaches 1; NaN if never on the horizon;
    t_grok: first time test accuracy reaches 0.95; NaN if never on the horizon;
    norm_final: ||theta||_2 at the horizon;
    test_acc_final: test accuracy at the horizon;
    train_acc_final: train accuracy at the horizon.
    """

    init_norm: float
    lam: float
    alpha_paper: float
    t_fit: float
    t_grok: float
    norm_final: float
    test_acc_final: float
    train_acc_final: float


_Point = TypeVar("_Point", bound=DiagonalPoint)


def point_doc(summary: str, own_fields: str) -> str:
    """The docstring of a `DiagonalPoint` subclass: its summary line, the entries of the fields it inherits, then
    `own_fields` (its own "name: meaning" entries)."""
    inherited = DiagonalPoint.__doc__.split("\n", 1)[1].rstrip().rstrip(".")
    return f"{summary}\n{inherited};{own_fields}"


@dataclass(frozen=True)
class ClassificationSweep:
    """What `run_classification` measured, before an experiment adds its own numbers.

    Per sweep point, arrays of shape (B,) (the fields of `DiagonalPoint`): init_norm, lam, alpha_paper, t_fit,
    t_grok, norm_final, test_acc_final, train_acc_final. Of the training set: max_l2_margin, the kernel-regime
    classifier (Cor. 3.6), and max_l1_margin, the rich-regime one (Cor. 3.7).
    """

    init_norm: np.ndarray
    lam: np.ndarray
    alpha_paper: np.ndarray
    t_fit: np.ndarray
    t_grok: np.ndarray
    norm_final: np.ndarray
    test_acc_final: np.ndarray
    train_acc_final: np.ndarray
    max_l2_margin: MarginClassifier
    max_l1_margin: MarginClassifier

    def points(self, cls: type[_Point], **extra: np.ndarray) -> list[_Point]:
        """One `cls` per sweep point: the `DiagonalPoint` columns and the (B,) arrays `extra` (cls's own fields)."""
        columns = {f.name: getattr(self, f.name) for f in fields(DiagonalPoint)} | extra
        return [cls(**{name: float(col[b]) for name, col in columns.items()}) for b in range(self.lam.size)]


def run_classification(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                       w_star: np.ndarray, init_norms, lams, lr: float, t_max: float, device,
                       desc: str) -> tuple[dict[str, np.ndarray], ClassificationSweep]:
    """Train the (init norm x lambda) grid on one data set; add the kernel and rich predictors.

    Returns (arrays, sweep): the curves of `train` (plus init_norm, lam, the two classifiers' unit vectors
    w_l2, w_l1 and w_star), and per point the first times train accuracy reaches 1 and test accuracy 0.95,
    the final norm and accuracies, with the max-L2-margin (kernel regime, Cor. 3.6) and max-L1-margin (rich
    regime, Cor. 3.7) classifiers' test accuracies and margins.
    """
    from sims.engine.curves import first_crossing
    from theory import grokking as theory

    l2 = theory.max_l2_margin_classifier(X, y)
    l1 = theory.max_l1_margin_classifier(X, y)
    sweep = DiagonalSweep.grid(init_norms, lams)
    curves = train(X, y, X_test, y_test, sweep, lr, t_max, {"l2": l2.w, "l1": l1.w}, device, desc=desc)
    t = curves["time"]
    measured = ClassificationSweep(
        init_norm=sweep.init_norm, lam=sweep.lam,
        alpha_paper=np.array([theory.alpha_paper_from_init_norm(a, X.shape[1]) for a in sweep.init_norm]),
        t_fit=first_crossing(t, curves["train_acc"], 1.0), t_grok=first_crossing(t, curves["test_acc"], 0.95),
        norm_final=curves["param_norm"][-1], test_acc_final=curves["test_acc"][-1],
        train_acc_final=curves["train_acc"][-1],
        max_l2_margin=MarginClassifier(test_acc=float(theory.linear_classifier_accuracy(l2.w, X_test, y_test)),
                                       margin=float(l2.margin)),
        max_l1_margin=MarginClassifier(test_acc=float(theory.linear_classifier_accuracy(l1.w, X_test, y_test)),
                                       margin=float(l1.margin)))
    arrays = dict(curves, init_norm=sweep.init_norm, lam=sweep.lam, w_l2=l2.w, w_l1=l1.w, w_star=w_star)
    return arrays, measured
