"""Notebook 05's network and training ingredients: each does what it says, and a run that uses
them all resumes to the same result."""

import pytest
import torch

from cifar_helpers import TrainConfig, build_model, fit, records, recipe, tables
from cifar_helpers.batches import Batches
from cifar_helpers.evaluate import tta_logits, tta_views
from cifar_helpers.optim import Lookahead, step_rate

TINY = dict(epochs=3, subset=512, test_subset=256, batch_size=128, device="cpu")


def test_whitening_filters_decorrelate_2x2_patches():
    torch.manual_seed(0)
    mixing = torch.randn(3, 3)
    images = torch.einsum("ij,njhw->nihw", mixing, torch.randn(200, 3, 32, 32))  # correlated channels
    net = build_model("whitened-net-small")
    net.whiten_from(images)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(images, net.whiten.weight[:12])  # the 12 directions, no bias
    flat = out.permute(1, 0, 2, 3).reshape(12, -1)
    covariance = torch.cov(flat)
    assert torch.allclose(covariance, torch.eye(12), atol=0.05)
    assert torch.equal(net.whiten.weight[12:], -net.whiten.weight[:12])  # and their negatives
    assert not net.whiten.weight.requires_grad


def test_the_two_widths():
    from cifar_helpers import count_parameters

    assert 1.9e6 < count_parameters(build_model("whitened-net")) < 2.1e6  # "about 2M parameters"
    assert count_parameters(build_model("whitened-net-small")) < 0.6e6


def test_warmup_then_linear_decay_per_step():
    rate = step_rate(TrainConfig(schedule="warmup-linear", warmup=0.2, final_lr=0.1), 100)
    values = [rate(step) for step in range(100)]
    assert values[0] == pytest.approx(0.05) and max(values) == pytest.approx(1.0)
    assert values.index(max(values)) == 19
    assert values[-1] == pytest.approx(0.1, abs=0.01) and values == sorted(values[:20]) + values[20:]
    assert all(a >= b for a, b in zip(values[19:], values[20:]))
    assert step_rate(TrainConfig(), 100)(57) == 1.0


def test_the_published_warmup_starts_at_a_fifth_of_the_peak():
    rate = step_rate(TrainConfig(schedule="warmup-linear", warmup=0.2, warmup_start=0.2), 100)
    assert rate(0) == pytest.approx(0.2 + 0.8 / 20) and rate(19) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="whiten_bias_epochs is for the whitened networks"):
        TrainConfig(model="lenet5", whiten_bias_epochs=3)


def test_the_published_test_time_weights():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 8, 8)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 10))
    views = [net(v) for v in tta_views(x, 2)]
    expected = 0.5 * (views[0] + views[1]) / 2 + 0.5 * (views[2] + views[3] + views[4] + views[5]) / 4
    assert torch.allclose(tta_logits(net, x, 2, "published"), expected, atol=1e-6)
    assert torch.allclose(tta_logits(net, x, 2), torch.stack(views).mean(0), atol=1e-6)
    assert torch.allclose(tta_logits(net, x, 1, "published"), (views[0] + views[1]) / 2, atol=1e-6)


def test_the_whitening_bias_starts_at_zero_and_freezes_after_its_epochs(cifar, tmp_path):
    config = recipe.CPU_RECIPE.replace(**recipe.PUBLISHED).replace(
        whiten_bias_epochs=1, epochs=1, subset=512, test_subset=256, batch_size=128, tta=0, lookahead=False,
        schedule="constant")  # epoch 1 the same in both runs
    one = fit(config, cifar, runs_dir=tmp_path, device="cpu", progress=False).model
    two = fit(config.replace(epochs=2), cifar, runs_dir=tmp_path, device="cpu", progress=False).model
    assert one.whiten.bias.abs().sum() > 0  # it trained in epoch 1, from zero...
    assert torch.equal(one.whiten.bias, two.whiten.bias)  # ...and stayed as it was in epoch 2
    assert not torch.equal(one.head.weight, two.head.weight)


def test_test_time_views():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    assert len(tta_views(x, 0)) == 1 and len(tta_views(x, 1)) == 2 and len(tta_views(x, 2)) == 6
    flipped = tta_views(x, 1)[1]
    assert torch.equal(flipped[..., 0], x[..., -1])
    shifted = tta_views(x, 2)[2]  # one pixel: row and column 1 of the image land at 2 (reflected edge)
    assert torch.equal(shifted[..., 2, 2], x[..., 1, 1]) and torch.equal(shifted[..., 0, 0], x[..., 1, 1])
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 10))
    assert torch.allclose(tta_logits(net, x, 1), (net(x) + net(x.flip(3))) / 2)


def test_lookahead_ends_on_its_slow_weights():
    net = torch.nn.Linear(3, 2)
    lookahead = Lookahead(net, total_steps=10)
    for _ in range(10):
        with torch.no_grad():
            net.weight.add_(1.0)
        lookahead.step()
    assert torch.equal(net.weight, lookahead.slow[0])
    assert net.weight.mean() < 11  # pulled back toward the earlier weights on the way


def test_every_ingredient_switches_off_alone():
    base = recipe.CPU_RECIPE
    for name, off in recipe.INGREDIENTS.items():
        changed = {k for k, v in recipe.without(name).to_dict().items() if v != base.to_dict()[k]}
        assert changed == set(off), name


def test_a_recipe_run_resumes_to_the_same_result(cifar, tmp_path, monkeypatch):
    config = recipe.CPU_RECIPE.replace(epochs=3, subset=512, test_subset=256, batch_size=128, tta=1)
    whole = fit(config, cifar, runs_dir=tmp_path / "whole", device="cpu", progress=False)
    real_write = records.write_checkpoint

    def ctrl_c_in_epoch_two(run_dir, state):
        if state["epoch"] == 2:
            raise KeyboardInterrupt
        real_write(run_dir, state)

    monkeypatch.setattr(records, "write_checkpoint", ctrl_c_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        fit(config, cifar, runs_dir=tmp_path / "cut", device="cpu", progress=False)
    monkeypatch.setattr(records, "write_checkpoint", real_write)
    (cut,) = (tmp_path / "cut").iterdir()
    resumed = fit(None, cifar, resume=cut, device="cpu", progress=False)
    for a, b in zip(resumed.record["history"], whole.record["history"]):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert a[key] == b[key], (key, a, b)
    # Test-time augmentation is measured once, after the last epoch, and named by the record.
    assert [("test_tta_acc" in h) for h in resumed.record["history"]] == [False, False, True]
    assert resumed.record["final"]["test_tta_acc"] == whole.record["final"]["test_tta_acc"]
    assert resumed.record["config"]["tta"] == 1


def _complete(folder, name, config, test_acc, test_tta_acc):
    run_dir = folder / name
    run_dir.mkdir(parents=True)
    final = {"epoch": config.epochs, "test_acc": test_acc, "test_tta_acc": test_tta_acc}
    records.write_record(run_dir, {"name": name, "status": "complete", "config": config.to_dict(),
                                   "history": [final], "final": final})


def test_the_ablation_table_reads_each_run_as_the_ingredient_it_lacks(tmp_path):
    _complete(tmp_path / "recipe", "a", recipe.CPU_RECIPE.replace(precision="bf16"), 90.0, 91.0)
    _complete(tmp_path / "recipe", "b", recipe.RECIPE.replace(precision="bf16"), 93.0, 94.0)  # the other width
    _complete(tmp_path / "ablation", "c", recipe.without("label smoothing").replace(seed=1), 88.0, 89.5)
    _complete(tmp_path / "ablation", "d", recipe.without("flip"), 80.0, 81.0)
    _complete(tmp_path / "ablation", "e", recipe.CPU_RECIPE.replace(augment=False), 79.0, 80.0)  # two changes: no row
    table = tables.ablation_table(tmp_path / "recipe", tmp_path / "ablation")
    assert sorted(map(tuple, table.values.tolist())) == [
        ("full recipe", 0, 91.0), ("without flip", 0, 81.0), ("without label smoothing", 1, 89.5),
        ("without test-time augmentation", 0, 90.0)]


def test_the_recipe_command_names_its_runs(monkeypatch):
    from cifar_helpers import reproduce

    calls = []
    monkeypatch.setattr(reproduce, "train_all", lambda configs, runs_dir, **kw: calls.append((configs, runs_dir, kw)))
    assert reproduce.recipe_main(["--models", "whitened-net-small", "--seeds", "0", "1"]) == 0
    configs, runs_dir, kw = calls.pop()
    assert runs_dir == "results/recipe" and [c.seed for c in configs] == [0, 1]
    assert all(c.replace(seed=0) == recipe.CPU_RECIPE for c in configs) and kw["names"] == [None, None]
    assert reproduce.recipe_main(["--ablation", "--seeds", "0"]) == 0
    configs, runs_dir, kw = calls.pop()
    assert runs_dir == "results/recipe-ablation" and len(configs) == len(recipe.INGREDIENTS)
    i = kw["names"].index("without-label-smoothing_s0")
    assert configs[i] == recipe.without("label smoothing")
    assert reproduce.recipe_main(["--ablation", "--seeds", "1", "2", "--ingredients", "warm-up", "decay"]) == 0
    configs, runs_dir, kw = calls.pop()
    assert kw["names"] == ["without-warm-up_s1", "without-decay_s1", "without-warm-up_s2", "without-decay_s2"]
    assert configs[1] == recipe.without("decay").replace(seed=1)


def test_old_records_read_as_the_defaults_of_new_fields():
    old = dict(model="mycnn", epochs=40, lr=0.001, batch_size=1024, optimizer="adam", seed=0,
               normalization="imagenet", subset=None, test_subset=None, augment=False, eval_train=True,
               precision="fp32", channels_last=True, compile=False)
    config = TrainConfig.from_dict(old)
    assert config.model == "own-network" and config.schedule == "constant" and config.tta == 0
    assert TrainConfig(model="own-network", epochs=40, normalization="imagenet").matches(old)


def test_translations_reflect_the_edge_and_flips_alternate():
    from torch.nn import functional as F

    from cifar_helpers.batches import Batches, crop_and_flip

    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    never = torch.tensor([False, False])
    for padding_mode, reflect in (("constant", False), ("reflect", True)):
        moved = crop_and_flip(x, torch.Generator().manual_seed(1), 2, reflect=reflect, flips=never)
        offsets = torch.randint(0, 5, (2, 2), generator=torch.Generator().manual_seed(1))
        padded = F.pad(x, (2, 2, 2, 2), mode=padding_mode)
        for i in range(2):
            r, c = offsets[:, i].tolist()
            assert torch.equal(moved[i], padded[i, :, r:r + 6, c:c + 6]), padding_mode
    images = torch.randint(0, 256, (8, 3, 4, 4), dtype=torch.uint8)
    batches = Batches(images, torch.arange(8), 8, (0, 0, 0), (1 / 255,) * 3, "cpu", shuffle=False, augment=True,
                      translate=0, generator=torch.Generator().manual_seed(0), flip="alternating")
    seen = []
    for epoch in range(4):
        batches.epoch = epoch
        x, _ = batches.first()
        seen.append(torch.tensor([not torch.equal(x[i], images[i].float()) for i in range(8)]))
    assert torch.equal(seen[0], ~seen[1]) and torch.equal(seen[0], seen[2]) and torch.equal(seen[1], seen[3])
    assert 0 < int(seen[0].sum()) < 8


def test_flip_none_only_translates():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    plain = Batches(images, torch.zeros(64, dtype=torch.long), 64, (0, 0, 0), (1, 1, 1), "cpu", augment=True,
                    translate=0, flip="none", generator=torch.Generator().manual_seed(0))
    mirrored = Batches(images, torch.zeros(64, dtype=torch.long), 64, (0, 0, 0), (1, 1, 1), "cpu", augment=True,
                       translate=0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(plain.first()[0], images.float() / 255)
    assert not torch.allclose(mirrored.first()[0], images.float() / 255)


def test_the_ablation_claims_a_direction_only_where_its_interval_excludes_zero():
    import pandas as pd
    from scipy import stats

    rows = [("full recipe", s, a) for s, a in enumerate([92.0, 92.2, 91.9])]
    rows += [("without a", s, a) for s, a in enumerate([90.0, 90.4, 90.2])]   # well below: a finding
    rows += [("without b", s, a) for s, a in enumerate([91.0, 92.0, 90.5])]   # below on average, wide: none
    rows += [("without e", s, a) for s, a in enumerate([93.0, 93.3, 92.9])]   # above: a finding
    rows += [("without c", 0, 85.0), ("without c", 1, 85.5)]                  # two seeds: not judged
    named = ["full recipe", "without a", "without b", "without c", "without d", "without e"]  # d: no run yet
    summary = tables.ablation_summary(pd.DataFrame(rows, columns=["run", "seed", "test_acc"]), named)
    assert summary.loc["without a", "claim"] == "lower: interval below zero"
    assert summary.loc["without b", "claim"] == "not resolved at 3 seeds"
    assert summary.loc["without e", "claim"] == "higher: interval above zero"
    assert summary.loc["without c", "claim"] == "too few seeds to judge"
    assert summary.loc["without d", "claim"] == "not run yet" and summary.loc["without d", "seeds"] == 0
    assert summary.loc["without a", "difference"] == pytest.approx(-1.83, abs=0.01)
    # the interval is scipy's Welch interval, not a hand-made one
    welch = stats.ttest_ind([91.0, 92.0, 90.5], [92.0, 92.2, 91.9], equal_var=False).confidence_interval(0.95)
    assert summary.loc["without b", "95% interval"] == f"{welch.low:+.2f} to {welch.high:+.2f}"
    assert welch.low < 0 < welch.high
    assert list(summary.index[:2]) == ["without c", "without a"]  # lowest first
    findings = tables.ablation_findings(summary).splitlines()
    assert findings == ["Lower: interval below zero: without a (-1.83 points).",
                        "Not resolved at 3 seeds: without b (-0.87 points).",
                        "Higher: interval above zero: without e (+1.03 points).",
                        "Too few seeds to judge: without c (-6.78 points).",
                        "Not run yet: without d.",
                        "Each interval is a 95% t interval over the seeds (Welch's; paired for the row without "
                        "test-time augmentation); with 3 rows judged, about 0.2 would exclude zero by chance alone if "
                        "no ingredient made a difference, more often together than apart, since every row is set "
                        "against the same full-recipe seeds; no interval is corrected for the number of rows."]
    paired = pd.DataFrame(rows[:3] + [("without test-time augmentation", s, a - 0.5) for s, a in
                                      enumerate([92.0, 92.2, 91.9])], columns=["run", "seed", "test_acc"])
    same_runs = tables.ablation_summary(paired, ["full recipe", "without test-time augmentation"])
    assert same_runs.loc["without test-time augmentation", "claim"] == "lower: interval below zero"  # paired: exact
    shipped = tables.ablation_summary(tables.ablation_table())  # every ingredient has its row, run or not
    assert set(shipped.index) == set(tables.ablation_rows())
    assert len(tables.ablation_rows()) == len(recipe.INGREDIENTS) + 2


def test_what_the_fast_training_page_reads_in_the_ablation_is_in_its_records():
    # docs/fast-training.md, "What the CPU width says", and notebook 05's "Reading the table": each clause
    # names rows of the committed ablation, and every row whose interval lies below zero is named.
    import json

    from cifar_helpers.paths import project_path

    page = " ".join(project_path("docs/fast-training.md").read_text().split())
    cells = json.loads(project_path("notebooks/05_fast_training.ipynb").read_text())["cells"]
    notebook = " ".join(" ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").split())
    summary = tables.ablation_summary(tables.ablation_table())
    cost = -summary["difference"]
    beyond = summary["claim"] == "lower: interval below zero"  # every named cost is resolved
    assert (summary["seeds"] >= 3).all(), "the paragraph reads a complete ablation: rerun or reword it"
    assert "the decay matters most (a rate held at its peak to the end costs about 3 points)" in page
    assert cost.idxmax() == "without decay" and round(cost["without decay"]) == 3
    clauses = {  # clause on the page: (its rows, the size it says)
        "weight decay, test-time augmentation and BatchNorm's momentum, eps and fixed scales are worth about a "
        "point each": (["weight decay", "test-time augmentation", "BatchNorm momentum, eps and fixed scales"], 1.0),
        "lookahead and the flips (with the translations on) about half a point": (["lookahead", "flip"], 0.5),
        "the 64× bias rate about a third": (["64x BatchNorm bias rate"], 1 / 3)}
    named = {"without decay"}
    for clause, (ingredients, size) in clauses.items():
        assert clause in page
        for ingredient in ingredients:
            named.add(f"without {ingredient}")
            assert beyond[f"without {ingredient}"] and abs(cost[f"without {ingredient}"] - size) < 0.25 * size
    assert named == set(summary.index[beyond]), "a resolved row the paragraph does not name"
    sizes = [[cost[f"without {i}"] for i in ingredients] for ingredients, _ in clauses.values()]
    assert all(min(larger) > max(smaller) for larger, smaller in zip(sizes, sizes[1:])), "in the order said"
    assert ("Nesterov momentum, label smoothing and the translations (with the flips on) make no difference three "
            "seeds can resolve, and neither does our warm-up: the row without it is "
            f"{-cost['without warm-up']:.2f} points higher, with an interval that reaches below zero") in page
    unresolved = ["without Nesterov momentum", "without label smoothing", "without translate", "without warm-up"]
    assert (summary.loc[unresolved, "claim"] == "not resolved at 3 seeds").all()
    assert "its interval reaches below zero, so three seeds do not settle it" in notebook
    assert cost["without warm-up"] < 0
    assert recipe.CPU_RECIPE.warmup_start == 0 and recipe.PUBLISHED["warmup_start"] == 0.2
    assert "Our warm-up starts near 0, the published one at 0.2 of the peak" in page
    assert f"decays over all the steps instead of the last {1 - recipe.CPU_RECIPE.warmup:.0%}" in page
    assert f"a decay spread over all the steps instead of the last {1 - recipe.CPU_RECIPE.warmup:.0%}" in notebook
