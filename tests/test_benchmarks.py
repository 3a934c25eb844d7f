"""benchmarks/accuracy_parity.py: the fast path against the plain fp32 path (tiny settings here)."""

import json
import os
import subprocess
import sys

from cifar_helpers.paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import time_to_accuracy  # noqa: E402


def test_accuracy_parity_records_both_paths(cifar, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    command = [sys.executable, "benchmarks/accuracy_parity.py", "--model", "lenet5", "--epochs", "2",
               "--subset", "1024", "--test-subset", "500", "--runs-dir", str(runs), "--out", str(out)]
    for _ in range(2):  # the second run replaces the first one's entry
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                                env={**os.environ, "CIFAR_PROGRESS": "off"})
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (report,) = out.glob("parity-*.json")
    (entry,) = json.loads(report.read_text())["entries"]
    plain = json.loads((runs / "lenet5_lr1e-3_e2_s0_n1024_plain-2" / "record.json").read_text())
    assert entry["plain"]["run"] == str(runs / "lenet5_lr1e-3_e2_s0_n1024_plain-2")
    assert plain["status"] == "complete" and plain["config"]["channels_last"] is False
    assert [h["epoch"] for h in plain["history"]] == [1, 2]
    assert entry["plain"]["final_test_acc"] == plain["final"]["test_acc"]
    # The fast side was trained into runs/ (nothing shipped has this configuration) and reused the second time.
    assert sorted(p.name for p in runs.iterdir()) == ["lenet5_lr1e-3_e2_s0_n1024", "lenet5_lr1e-3_e2_s0_n1024_plain",
                                                       "lenet5_lr1e-3_e2_s0_n1024_plain-2"]
    fast = json.loads((runs / "lenet5_lr1e-3_e2_s0_n1024" / "record.json").read_text())
    assert entry["fast"]["final_test_acc"] == fast["final"]["test_acc"]
    assert entry["difference_pp"] == fast["final"]["test_acc"] - entry["plain"]["final_test_acc"]
    assert entry["within_target"] == (abs(entry["difference_pp"]) <= 1.0)
    assert "| lenet5 | 0.001 | 2 | 1024 |" in report.with_suffix(".md").read_text()


def test_time_to_accuracy_reads_epochs_from_the_records_and_times_them_side_by_side(cifar, tmp_path):
    from cifar_helpers import recipe
    from cifar_helpers.records import iter_records, machine_of

    result = subprocess.run([sys.executable, "benchmarks/time_to_accuracy.py", "--steps", "1", "--rounds", "1",
                             "--test-subset", "200", "--out", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "time_to_accuracy.json").read_text())
    contestants = report["contestants"]
    assert [c["model"] for c in contestants.values()] == ["own-network", "whitened-net", "whitened-net-small"]
    assert report["machine"]["isa"] and "git_commit" in report
    for c in contestants.values():
        lr = 1e-3 if c["model"] == "own-network" else recipe.RECIPE.lr
        runs = [r for _, r in iter_records(c["records"]["folder"])
                if r["status"] == "complete" and (r["config"]["model"], r["config"]["lr"]) == (c["model"], lr)]
        assert c["seeds"] == sorted(r["config"]["seed"] for r in runs) and c["seeds"]
        assert c["records"]["machines"] == sorted({machine_of(r) for r in runs})
        assert c["accuracy_curve"] == time_to_accuracy.accuracy_curve(runs)  # one view, every epoch
        one_view = c["evaluation_seconds"]["one view"]
        for accuracy, reached in c["to_accuracy"].items():
            before = c["accuracy_curve"][:reached["epochs"]] if reached else c["accuracy_curve"]
            if reached:  # the first epoch at that accuracy, and each seed's own
                assert before[-1] >= float(accuracy) and all(value < float(accuracy) for value in before[:-1])
                assert reached["seconds"] == reached["epochs"] * c["seconds_per_epoch"] + one_view
                assert reached["seeds_epochs"] == [time_to_accuracy.epochs_to(time_to_accuracy.accuracy_curve([r]),
                                                                              float(accuracy)) for r in runs]
            else:
                assert max(before) < float(accuracy)
        if c["tta"]:  # test-time augmentation: a whole run of its own, never one of the thresholds
            assert c["with_tta"]["seeds_accuracy"] == [r["final"]["test_tta_acc"] for r in runs]
            assert c["with_tta"]["seconds"] == (c["epochs"] * c["seconds_per_epoch"]
                                                + c["evaluation_seconds"]["test-time augmentation"])
    assert "| own-network, the original's recipe |" in (tmp_path / "time_to_accuracy.md").read_text()


def test_accuracy_curve_and_epochs_to_an_accuracy():
    runs = [{"history": [{"test_acc": 50.0}, {"test_acc": 80.0, "test_tta_acc": 82.0}]},
            {"history": [{"test_acc": 60.0}, {"test_acc": 84.0, "test_tta_acc": 86.0}]}]
    assert time_to_accuracy.accuracy_curve(runs) == [55.0, 82.0]  # one view throughout: no six-view last epoch
    assert time_to_accuracy.epochs_to([55.0, 84.0], 55) == 1 and time_to_accuracy.epochs_to([55.0, 84.0], 60) == 2
    assert time_to_accuracy.epochs_to([55.0, 84.0], 90) is None


def test_precision_parity_trains_both_precisions_from_the_same_seeds_and_reuses_them(cifar, tmp_path, monkeypatch):
    import precision_parity

    from cifar_helpers.records import read_record
    from cifar_helpers.tables import difference_interval

    tiny = precision_parity.CONFIGS["lenet5"].replace(epochs=1, subset=512, test_subset=300)
    monkeypatch.setitem(precision_parity.CONFIGS, "lenet5", tiny)
    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = ["precision_parity.py", "--models", "lenet5", "--seeds", "0", "1", "--bf16-dirs", str(tmp_path / "none"),
            "--runs-dir", str(runs), "--out", str(out)]
    for _ in range(2):  # the second time every run is found, none trained
        monkeypatch.setattr(sys, "argv", argv)
        assert precision_parity.main() == 0
    assert sorted(p.name for p in (runs / "fp32").iterdir()) == ["lenet5_lr1e-3_e1_s0_n512", "lenet5_lr1e-3_e1_s1_n512"]
    assert sorted(p.name for p in (runs / "bf16").iterdir()) == sorted(p.name for p in (runs / "fp32").iterdir())
    (report,) = out.glob("precision-parity-*.json")
    results = json.loads(report.read_text())
    assert results["machine"]["isa"] and "git_commit" in results
    (entry,) = results["entries"]
    accs = {p: [read_record(r)["final"]["test_acc"] for r in entry["runs"][p]] for p in ("bf16", "fp32")}  # in tmp_path
    for p in accs:
        assert [read_record(r)["config"]["precision"] for r in entry["runs"][p]] == [p, p]
        assert [read_record(r)["config"]["seed"] for r in entry["runs"][p]] == [0, 1]
    difference, low, high = difference_interval(accs["bf16"], accs["fp32"], paired=True)  # seed by seed
    assert entry["test_acc"]["interval"] == [low, high]
    assert entry["test_acc"]["agree"] == (-1 <= low and high <= 1)  # a wide interval is no agreement
    assert "| lenet5 | 1 | 0, 1 | one view |" in report.with_suffix(".md").read_text()


def test_every_benchmark_file_names_its_instruction_set_and_commit():
    # Two machines with one CPU name trained 1.8x apart: the machine behind a number is read from its file.
    for path in sorted((REPO / "benchmarks" / "results").glob("*.json")):
        results = json.loads(path.read_text())
        parts = results.get("entries") or list(results.get("measured", {}).values()) or [results]
        for part in parts:
            machine = part.get("machine") or results.get("machine")
            assert machine and machine.get("isa"), f"{path.name} names no instruction set"
            assert "git_commit" in part or "git_commit" in results, f"{path.name} names no commit"
