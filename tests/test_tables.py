"""The original's table rebuilt from run records."""

import pandas as pd
import pytest

from cifar_helpers.tables import results_table


def test_table_rows_aggregate_complete_runs_and_name_their_seeds():
    runs = pd.DataFrame({  # and a run of notebook 05's network, which the quick profile's folder holds
        "model": ["own-network"] * 3 + ["whitened-net-small"], "lr": [1e-2] * 4, "epochs": [20] * 4,
        "subset": [None] * 4, "status": ["complete", "complete", "interrupted", "complete"], "seed": [3, 4, 0, 0],
        "train_eval_acc": [70.0, 66.0, 10.0, None], "test_acc": [60.0, 58.0, 10.0, 90.0],
        "collapsed": [False, False, True, False], "wall_s": [600.0, 660.0, 60.0, 60.0], "device": ["cpu"] * 4,
        "machine": ["Test CPU, AVX2, fp32"] * 4})
    (row,) = results_table(runs).to_dict("records")
    assert row["Network"] == "Own Network" and row["Original README (%)"] == "67.88"
    assert row["lr"] == "1e-2"
    assert row["Seeds"] == "3, 4"  # the interrupted seed-0 run is left out
    assert row["Ours, original's protocol: train set (%)"] == "68.00 ± 2.83"
    assert row["Ours, test set (%)"] == "59.00 ± 1.41"
    # Only last-epoch figures: no column picks an epoch by its test accuracy.
    assert not [c for c in row if "best" in c.lower()]
    assert row["Collapsed"] == 0 and row["Wall time (min)"] == "10.5"
    assert row["Machine, precision"] == "Test CPU, AVX2, fp32"
    # runs of another machine or precision make a row of their own, never a mean with these
    other = runs.assign(machine=["Test CPU, AMX-BF16, bf16"] * 2 + list(runs["machine"][2:]))
    split = results_table(pd.concat([runs, other.iloc[:2]]))
    assert list(split["Machine, precision"]) == ["Test CPU, AMX-BF16, bf16", "Test CPU, AVX2, fp32"]
    assert list(split["Seeds"]) == ["3, 4", "3, 4"]


def test_timings_table_reads_committed_files_one_column_per_machine(tmp_path):
    import json
    import sys

    from cifar_helpers.paths import REPO
    from cifar_helpers.tables import NOT_MEASURED, timings_table

    sys.path.insert(0, str(REPO / "benchmarks"))
    from timings import _timed

    failed = _timed([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])
    assert failed["seconds"] is None and failed["exit"] == 3 and failed["last_line"] == "boom"
    assert "boom" in failed["output_tail"]
    machine = {"device_name": "Test CPU", "isa": "AVX2", "precision": "fp32", "threads": 2}
    (tmp_path / "timings-test-cpu-avx2.json").write_text(json.dumps({"machine": machine, "measured": {
        "main-job": {"seconds": 90.0}, "quick": failed,
        "jupyterlab": {"seconds": 200.0, "run_all_seconds": {"01_dataset_tour.ipynb": 10.4,
                                                             "02_lenet5_training.ipynb": 11.6}}}}))
    table = timings_table(tmp_path).set_index("")
    column = "Test CPU, AVX2, fp32, 2 threads"
    assert table.loc["main job (`python3 tasks.py run`, shipped runs)", column] == "1.5 min"
    assert table.loc["Run All in JupyterLab, 01_dataset_tour", column] == "10 s"
    assert "quick profile (`python3 tasks.py run --quick`)" not in table.index  # a failed run is no time
    assert not [row for row in table.index if "training" in row]  # the browser test's extra 02 run
    # the shipped records fill their machine's column; no GPU has measured anything yet
    lenet5 = table.loc["LeNet5, lr 1e-3, 40 epochs: the whole run", "AMD EPYC, AVX2, fp32, 1 thread"]
    assert lenet5.startswith("14.5 min")
    assert set(table["GPU"]) == {NOT_MEASURED}


def test_generated_blocks_are_rewritten_in_whichever_file_holds_them(tmp_path, monkeypatch):
    from cifar_helpers import tables
    from cifar_helpers.errors import CifarHelpersError

    blocks = {name: f"<!-- {name}: generated -->\n| new {name} |\n<!-- /{name} -->" for name in ("one", "two")}
    monkeypatch.setattr(tables, "generated_blocks", lambda: blocks)
    readme, page, other = (tmp_path / name for name in ("README.md", "page.md", "other.md"))
    readme.write_text("# Title\n\n<!-- one: generated -->\n| old |\n<!-- /one -->\n\nafter\n")
    page.write_text("# Page\n<!-- two: generated -->\n| new two |\n<!-- /two -->\n")  # already up to date
    other.write_text("# Other\n")
    assert tables.update_generated_blocks([readme, page, other]) == [readme]
    assert readme.read_text() == f"# Title\n\n{blocks['one']}\n\nafter\n"
    assert tables.update_generated_blocks([readme, page, other]) == []
    with pytest.raises(CifarHelpersError, match="'two' has no place in README.md, other.md"):
        tables.update_generated_blocks([readme, other])


def test_a_record_names_its_instruction_set_and_older_ones_are_read_as_they_were_written():
    from cifar_helpers.device import cpu_isa, environment
    from cifar_helpers.records import isa_of, machine_of

    import torch

    here = environment(torch.device("cpu"))
    assert here["cpu_isa"] == cpu_isa() and here["cpu_isa"] in ("AMX-BF16", "AVX512-BF16", "AVX512", "AVX2", "DEFAULT")

    def record(precision, **env):
        return {"config": {"precision": precision},
                "environment": {"device_type": "cpu", "device_name": "AMD EPYC", **env}}

    assert isa_of(record("bf16", cpu_capability="AVX512", cpu_isa="AMX-BF16")) == "AMX-BF16"
    assert isa_of(record("bf16", cpu_capability="AVX512")) == "AVX512-BF16"  # before cpu_isa: bf16 was native
    assert isa_of(record("fp32", cpu_capability="AVX512")) == "AVX512"        # fp32 says nothing of bf16
    assert machine_of(record("fp32", cpu_capability="AVX2")) == "AMD EPYC, AVX2, fp32"
    assert isa_of({"config": {}, "environment": {"device_type": "cuda"}}) == "GPU"
